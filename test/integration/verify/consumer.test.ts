/**
 * The consumer example (examples/consumer/server.ts) as its own process, against the real servers:
 * an API that checks a tokensmith JWT offline with jose's createRemoteJWKSet from the discovery
 * document served over HTTPS (the server's CA trusted through NODE_EXTRA_CA_CERTS), and an opaque
 * token by introspection with its own service-account token; after `revoke=current` the opaque
 * token is refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../env/settings.ts';
import { createNamespace } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import { jwt, onIssuer, tokenPolicy } from '../../support/policies.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { serviceAccountToken, verifyConfig, verifyTls } from '../../support/verifyServer.ts';

let namespace: string;
let operator: TestOperator;
let consumer: ChildProcess;
let consumerPort = 0;

async function call(token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await fetch(`http://127.0.0.1:${consumerPort}/orders`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  namespace = await createNamespace('consumer');
  const tls = await verifyTls();
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator({
    ...testConfig({ namespace, transitMount }),
    verify: verifyConfig(tls),
  });
  const port = (await operator.operator.verifyServer)?.port ?? 0;
  const issuer = await createReadyClusterIssuer('consumer', transitMount);
  await createPolicy(namespace, tokenPolicy('jwt', onIssuer(issuer), jwt(['orders-api'])));
  await createPolicy(namespace, tokenPolicy('opaque', onIssuer(issuer)));
  await waitForPolicy(namespace, 'jwt', 'True/Issued');
  await waitForPolicy(namespace, 'opaque', 'True/Issued');

  const dir = join(tls.certFile, '..');
  writeFileSync(join(dir, 'ca.crt'), tls.caPem);
  writeFileSync(join(dir, 'caller-token'), await serviceAccountToken(namespace, 'orders-api', 'tokensmith'));
  consumer = spawn(process.execPath, [join(REPO_ROOT, 'examples', 'consumer', 'server.ts')], {
    env: {
      ...process.env,
      DISCOVERY_URL: `https://localhost:${port}/issuers/cluster/${issuer}/.well-known/openid-configuration`,
      AUDIENCE: 'orders-api',
      CALLER_TOKEN_FILE: join(dir, 'caller-token'),
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'),
      PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  consumerPort = await new Promise<number>((resolve, reject) => {
    consumer.stdout?.setEncoding('utf8').on('data', (line: string) => {
      const port = /"port":(\d+)/.exec(line)?.[1];
      if (port) resolve(Number(port));
    });
    consumer.once('exit', (code) => {
      reject(new Error(`the consumer exited (${String(code)})`));
    });
  });
}, 60_000);

afterAll(async () => {
  consumer.kill('SIGKILL');
  await operator.stop();
});

describe('the consumer example', () => {
  it('accepts a tokensmith JWT offline and an opaque token by introspection, and refuses anything else', async () => {
    const token = (await secretData(namespace, 'jwt'))?.TOKEN ?? '';
    expect(await call(token)).toEqual({
      status: 200,
      body: { ok: true, how: 'jwt', sub: `system:tokenpolicy:${namespace}:jwt` },
    });
    const opaque = (await secretData(namespace, 'opaque'))?.TOKEN ?? '';
    expect(await call(opaque)).toMatchObject({ status: 200, body: { ok: true, how: 'introspection' } });
    expect((await call('tsk_made-up')).status).toBe(401);
    expect((await call(`${token.slice(0, -4)}AAAA`)).status).toBe(401);
  });

  it('refuses an opaque token once it is revoked', async () => {
    const opaque = (await secretData(namespace, 'opaque'))?.TOKEN ?? '';
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'opaque' },
      { 'tokensmith.dev/revoke': 'current' },
    );
    await expect.poll(async () => (await call(opaque)).status, { timeout: 15_000 }).toBe(401);
  });
});
