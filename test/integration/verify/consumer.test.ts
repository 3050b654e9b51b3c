/**
 * The consumer example (examples/consumer/server.ts) as its own process, against the real servers:
 * an API that checks a tokensmith JWT offline with jose's createRemoteJWKSet from the discovery
 * document served over HTTPS (the server's CA trusted through NODE_EXTRA_CA_CERTS), and an opaque
 * token by introspection with its own service-account token; after `revoke=current` the opaque
 * token is refused. Across a signing-key rotation the consumer, which caches the JWKS and may not
 * refetch it for 30s after a fetch (jose's cooldown), verifies every JWT minted before, during and
 * after it — the new key is published 15s (publishAhead) before it signs — and a JWT whose key was
 * reported leaked fails once the consumer's JWKS cache (5s) ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../env/settings.ts';
import { createNamespace } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import { jwt, onIssuer, tokenPolicy } from '../../support/policies.ts';
import { decodeProtectedHeader } from 'jose';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  readClusterIssuer,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { serviceAccountToken, verifyConfig, verifyTls } from '../../support/verifyServer.ts';

let namespace: string;
let operator: TestOperator;
let consumer: ChildProcess;
let consumerPort = 0;
let issuer: string;

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
  issuer = await createReadyClusterIssuer('consumer', transitMount, {
    signing: { transitMount, rotation: { publishAhead: '15s' } },
  });
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
      JWKS_CACHE_MAX_AGE_MS: '5000',
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

  it('keeps verifying across a signing-key rotation (no unknown kid); a leaked key fails', async () => {
    const kid = (token: string) => decodeProtectedHeader(token).kid;
    const rotateKey = (value: string) =>
      annotateObject({ plural: 'clustertokenissuers', name: issuer }, { 'tokensmith.dev/rotate-key': value });
    const keys = async () => (await readClusterIssuer(issuer)).status?.keys ?? [];
    /** Rotates the JWT policy's token; returns the new one. */
    const rotated = async (value: string) => {
      const before = (await secretData(namespace, 'jwt'))?.TOKEN;
      await annotateObject(
        { plural: 'tokenpolicies', namespace, name: 'jwt' },
        { 'tokensmith.dev/rotate': value },
      );
      await expect
        .poll(async () => (await secretData(namespace, 'jwt'))?.TOKEN, { timeout: 15_000 })
        .not.toBe(before);
      return (await secretData(namespace, 'jwt'))?.TOKEN ?? '';
    };

    // The consumer fetches the JWKS now: for 30s it will not fetch it again for an unknown kid.
    const first = (await secretData(namespace, 'jwt'))?.TOKEN ?? '';
    const kid1 = kid(first);
    expect((await call(first)).status).toBe(200);
    await rotateKey('continuity');
    await expect.poll(async () => (await keys()).length, { timeout: 15_000 }).toBe(2);
    // Minted right after the rotation: the consumer, which cannot refetch yet, verifies it, since
    // the old key still signs and the new one is only published.
    const during = await rotated('during');
    expect(await call(during)).toMatchObject({ status: 200, body: { how: 'jwt' } });
    expect(kid(during)).toBe(kid1);
    expect((await keys()).map((k) => k.state)).toEqual(['published', 'active']);
    const [published] = await keys();
    // publishAhead on, the new key signs; the consumer learnt it when its 5s cache ended.
    await expect
      .poll(async () => (await readClusterIssuer(issuer)).status?.activeKid, { timeout: 30_000 })
      .toBe(published?.kid);
    const after = await rotated('after');
    expect(kid(after)).toBe(published?.kid);
    for (const token of [first, during, after]) expect((await call(token)).status).toBe(200);

    // Reported leaked: both keys leave the JWKS at once, and the policy re-mints its JWT.
    await rotateKey('leaked:continuity');
    await expect
      .poll(async () => (await keys()).filter((k) => k.state !== 'retired').length, { timeout: 15_000 })
      .toBe(1);
    await expect
      .poll(async () => kid((await secretData(namespace, 'jwt'))?.TOKEN ?? ''), { timeout: 15_000 })
      .not.toBe(published?.kid);
    const remint = (await secretData(namespace, 'jwt'))?.TOKEN ?? '';
    // Once the consumer's cache has ended (5s), tokens of the leaked keys fail; the new one verifies.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    for (const token of [first, during, after]) expect((await call(token)).status).toBe(401);
    expect((await call(remint)).status).toBe(200);
  }, 90_000);

  it('refuses an opaque token once it is revoked', async () => {
    const opaque = (await secretData(namespace, 'opaque'))?.TOKEN ?? '';
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'opaque' },
      { 'tokensmith.dev/revoke': 'current' },
    );
    await expect.poll(async () => (await call(opaque)).status, { timeout: 15_000 }).toBe(401);
  });
});
