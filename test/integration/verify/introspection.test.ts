/**
 * RFC 7662 introspection against the real servers, on two replicas (one leads, both serve): active
 * with the right claims for a live opaque token, JWT and refresh token; `{"active": false}` and
 * nothing more for an unknown token, a caller that is not a consumer, a deleted policy, and a
 * revoked token — on both replicas within a second of the revocation (measured and printed); 401
 * without a service-account token for tokensmith's audience; 429 past the caller's rate limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOfHash, tokenHash } from '../../../src/core/fingerprint.ts';
import { createNamespace } from '../../support/environment.ts';
import { enableEngine, type TestOperator } from '../../support/operator.ts';
import { jwt, onIssuer, tokenPolicy, withRefresh } from '../../support/policies.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  deletePolicy,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import {
  httpsCall,
  introspectAt,
  serviceAccountToken,
  startVerifyingReplicas,
  verifyTls,
  type VerifyTls,
} from '../../support/verifyServer.ts';

let namespace: string;
let outsiders: string;
let tls: VerifyTls;
let issuer: string;
const replicas: { operator: TestOperator; port: number }[] = [];
let reader: string;
let outsider: string;

/** Introspects `token` at replica `i` as `caller`. */
async function introspect(token: string, caller = reader, i = 0) {
  const answer = await introspectAt(
    replicas[i]?.port ?? 0,
    tls.caPem,
    `/issuers/cluster/${issuer}/introspect`,
    caller,
    token,
  );
  return {
    status: answer.status,
    headers: answer.headers,
    json: JSON.parse(answer.body || '{}') as Record<string, unknown>,
  };
}

beforeAll(async () => {
  namespace = await createNamespace('introspect');
  outsiders = await createNamespace('introspect-outsiders');
  tls = await verifyTls();
  const transitMount = await enableEngine('transit', 'transit');
  replicas.push(...(await startVerifyingReplicas(namespace, transitMount, tls, 50)));
  issuer = await createReadyClusterIssuer('introspect', transitMount);
  reader = await serviceAccountToken(namespace, 'reader', 'tokensmith');
  outsider = await serviceAccountToken(outsiders, 'outsider', 'tokensmith');
}, 60_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.operator.stop()));
});

async function issued(name: string, ...modifiers: Parameters<typeof tokenPolicy>[1][]) {
  await createPolicy(namespace, tokenPolicy(name, onIssuer(issuer), ...modifiers));
  await waitForPolicy(namespace, name, 'True/Issued');
  return (await secretData(namespace, name)) ?? {};
}

describe('introspection', () => {
  it('answers active with the claims of a live opaque token, JWT and refresh token', async () => {
    const opaque = (await issued('opaque')).TOKEN ?? '';
    const a = await introspect(opaque);
    expect(a.status).toBe(200);
    expect(a.headers['cache-control']).toBe('no-store');
    expect(a.json).toMatchObject({
      active: true,
      token_type: 'Bearer',
      token_use: 'access_token',
      policy: `${namespace}/opaque`,
      version: 1,
      fingerprint: fingerprintOfHash(tokenHash(opaque)),
      iss: 'https://tokens.introspect.example',
    });
    expect(Number(a.json.exp) - Number(a.json.iat)).toBe(3600);

    const withJwt = await issued('jwt', jwt(['orders-api']), withRefresh());
    const j = await introspect(withJwt.TOKEN ?? '');
    expect(j.json).toMatchObject({
      active: true,
      sub: `system:tokenpolicy:${namespace}:jwt`,
      aud: ['orders-api'],
      token_type: 'Bearer',
      token_use: 'access_token',
    });
    expect(typeof j.json.jti).toBe('string');
    const r = await introspect(withJwt.REFRESH_TOKEN ?? '');
    expect(r.json).toMatchObject({ active: true, token_use: 'refresh_token', policy: `${namespace}/jwt` });
    expect(r.json.token_type).toBeUndefined();
    // Never the token itself.
    expect(JSON.stringify([a.json, j.json, r.json])).not.toContain(opaque);
  });

  it('answers only {"active": false} for an unknown token and for a caller that is not a consumer', async () => {
    expect((await introspect('tsk_not-a-token')).json).toEqual({ active: false });
    const token = (await secretData(namespace, 'opaque'))?.TOKEN ?? '';
    expect((await introspect(token, outsider)).json).toEqual({ active: false });
  });

  it('refuses a caller without a service-account token for tokensmith', async () => {
    const none = await httpsCall(replicas[0]?.port ?? 0, tls.caPem, `/issuers/cluster/${issuer}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=x',
    });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="tokensmith", error="invalid_token"');
    const forVault = await serviceAccountToken(namespace, 'reader', 'vault');
    expect((await introspect('x', forVault)).status).toBe(401);
  });

  it('answers inactive on both replicas within a second of a revocation', { timeout: 30_000 }, async () => {
    const token = (await issued('revoked')).TOKEN ?? '';
    for (const i of [0, 1]) expect((await introspect(token, reader, i)).json.active).toBe(true);
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'revoked' },
      { 'tokensmith.dev/revoke': 'current' },
    );
    // The moment Vault records it: the policy's status shows version 1 revoked.
    await expect
      .poll(
        async () =>
          (await readPolicy(namespace, 'revoked'))?.status?.versions?.find((v) => v.version === 1)?.state,
        {
          interval: 20,
          timeout: 15_000,
        },
      )
      .toBe('revoked');
    const revokedAt = Date.now();
    const lag: number[] = [];
    for (const i of [0, 1]) {
      for (;;) {
        if ((await introspect(token, reader, i)).json.active === false) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      lag.push(Date.now() - revokedAt);
    }
    console.log(`revocation seen inactive: replica-a after ${lag[0]} ms, replica-b after ${lag[1]} ms`);
    expect(Math.max(...lag)).toBeLessThan(1000);
  });

  it('answers inactive for the tokens of a deleted policy', async () => {
    const token = (await issued('deleted')).TOKEN ?? '';
    expect((await introspect(token)).json.active).toBe(true);
    await deletePolicy(namespace, 'deleted');
    await expect
      .poll(async () => (await introspect(token)).json, { timeout: 15_000 })
      .toEqual({ active: false });
  });

  it("answers 429 past the caller's rate limit", async () => {
    const answers = await Promise.all(Array.from({ length: 150 }, () => introspect('tsk_flood', reader, 1)));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.headers['retry-after']).toBe('1');
  });
});
