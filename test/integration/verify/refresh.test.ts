/**
 * The token endpoint (RFC 6749 §6, rotation and replay detection of RFC 9700 §4.14.2) against the
 * real servers, on two replicas (one leads, both serve): a consumer redeems the refresh token of
 * its Secret for a working access token (introspects active; a JWT verifies against the served
 * JWKS) and the next refresh token; the spent one introspects inactive; a spent refresh token
 * presented again revokes the whole grant (every token it issued inactive on both replicas within
 * a second, measured and printed), a Warning Event RefreshTokenReplayed names the caller and the
 * fingerprint, and with onSuspiciousUse: revoke the Secret's token is replaced too; two replicas
 * racing one refresh token give exactly one success over many trials, the loser a conflict that
 * revokes nothing; and the RFC 6749 §5.2 errors.
 */
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace } from '../../support/environment.ts';
import { enableEngine, type TestOperator } from '../../support/operator.ts';
import { jwt, onIssuer, scopes, tokenPolicy, withRefresh } from '../../support/policies.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  eventsAbout,
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
let client: string;
let outsider: string;

const base = () => `/issuers/cluster/${issuer}`;

/** POSTs a form to the token endpoint of replica `i`. */
async function tokenRequest(form: Record<string, string>, caller = client, i = 0) {
  const answer = await httpsCall(replicas[i]?.port ?? 0, tls.caPem, `${base()}/token`, {
    method: 'POST',
    headers: {
      ...(caller ? { authorization: `Bearer ${caller}` } : {}),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form).toString(),
  });
  return {
    status: answer.status,
    headers: answer.headers,
    json: JSON.parse(answer.body || '{}') as Record<string, unknown>,
  };
}

const redeem = (refreshToken: string, i = 0, extra: Record<string, string> = {}) =>
  tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, client, i);

async function active(token: string, i = 0): Promise<boolean> {
  const answer = await introspectAt(replicas[i]?.port ?? 0, tls.caPem, `${base()}/introspect`, client, token);
  return (JSON.parse(answer.body) as { active: boolean }).active;
}

beforeAll(async () => {
  namespace = await createNamespace('refresh');
  outsiders = await createNamespace('refresh-outsiders');
  tls = await verifyTls();
  const transitMount = await enableEngine('transit', 'transit');
  replicas.push(...(await startVerifyingReplicas(namespace, transitMount, tls, 1000)));
  issuer = await createReadyClusterIssuer('refresh', transitMount);
  client = await serviceAccountToken(namespace, 'orders-api', 'tokensmith');
  outsider = await serviceAccountToken(outsiders, 'outsider', 'tokensmith');
}, 60_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.operator.stop()));
});

async function issued(name: string, ...modifiers: Parameters<typeof tokenPolicy>[1][]) {
  await createPolicy(namespace, tokenPolicy(name, onIssuer(issuer), withRefresh(), ...modifiers));
  await waitForPolicy(namespace, name, 'True/Issued');
  return (await secretData(namespace, name)) ?? {};
}

describe('the token endpoint', () => {
  it('redeems the refresh token of the Secret for a working access token and the next refresh token', async () => {
    const secret = await issued('opaque', scopes('orders:read', 'orders:write'));
    const first = await redeem(secret.REFRESH_TOKEN ?? '', 1);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.json).toMatchObject({ token_type: 'Bearer', scope: 'orders:read orders:write' });
    const access = String(first.json.access_token);
    const refresh = String(first.json.refresh_token);
    expect(access).not.toBe(secret.TOKEN);
    expect(access.length).toBe(secret.TOKEN?.length);
    expect(refresh).toMatch(/^tsr_/);
    expect(Number(first.json.expires_in)).toBeGreaterThan(3500);
    expect(Number(first.json.expires_in)).toBeLessThanOrEqual(3600);
    // Recorded before it was answered: both replicas know the new tokens at once.
    for (const i of [0, 1]) {
      expect(await active(access, i)).toBe(true);
      expect(await active(refresh, i)).toBe(true);
      expect(await active(secret.REFRESH_TOKEN ?? '', i)).toBe(false); // spent
      expect(await active(secret.TOKEN ?? '', i)).toBe(true); // the Secret's own token lives on
    }
    const answer = await introspectAt(
      replicas[0]?.port ?? 0,
      tls.caPem,
      `${base()}/introspect`,
      client,
      access,
    );
    expect(JSON.parse(answer.body)).toMatchObject({
      active: true,
      token_type: 'Bearer',
      token_use: 'access_token',
      scope: 'orders:read orders:write',
      policy: `${namespace}/opaque`,
      version: 1,
    });
    // The next one redeems too, and may narrow the scope, never widen it.
    const narrowed = await redeem(refresh, 0, { scope: 'orders:read' });
    expect(narrowed).toMatchObject({ status: 200, json: { scope: 'orders:read' } });
    const widened = await redeem(String(narrowed.json.refresh_token), 0, { scope: 'orders:admin' });
    expect(widened).toMatchObject({ status: 400, json: { error: 'invalid_scope' } });
    // The audit lines name caller and fingerprints, never a token.
    const logs = replicas.map((r) => r.operator.logs()).join('');
    expect(logs).toMatch(/"audit":"token".*"answer":"exchanged"/);
    for (const token of [access, refresh, secret.REFRESH_TOKEN ?? '', String(narrowed.json.access_token)]) {
      expect(logs).not.toContain(token);
    }
  });

  it('issues a JWT of the policy for a JWT policy, verifying against the served JWKS', async () => {
    const secret = await issued('jwt', jwt(['orders-api']), scopes('orders:read'));
    const answer = await redeem(secret.REFRESH_TOKEN ?? '');
    expect(answer.status).toBe(200);
    const jwksBody = await httpsCall(replicas[0]?.port ?? 0, tls.caPem, `${base()}/jwks.json`);
    const { payload } = await jwtVerify(
      String(answer.json.access_token),
      createLocalJWKSet(JSON.parse(jwksBody.body) as JSONWebKeySet),
      {
        issuer: `https://tokens.refresh.example`,
        audience: 'orders-api',
      },
    );
    expect(payload).toMatchObject({ sub: `system:tokenpolicy:${namespace}:jwt`, scope: 'orders:read' });
    expect(await active(String(answer.json.access_token), 1)).toBe(true);
  });

  it('revokes the whole grant when a spent refresh token is presented again, on both replicas within a second', async () => {
    const secret = await issued('replayed');
    const one = await redeem(secret.REFRESH_TOKEN ?? '');
    const two = await redeem(String(one.json.refresh_token), 1);
    expect([one.status, two.status]).toEqual([200, 200]);
    const exchanged = [String(one.json.access_token), String(two.json.access_token)];
    for (const token of exchanged) expect(await active(token, 1)).toBe(true);

    const replayedAt = Date.now();
    const replay = await redeem(secret.REFRESH_TOKEN ?? '', 0);
    expect(replay).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    const lags: number[] = [];
    for (const i of [0, 1]) {
      for (const token of exchanged) {
        await expect.poll(() => active(token, i), { timeout: 1_000, interval: 10 }).toBe(false);
      }
      lags.push(Date.now() - replayedAt);
    }
    console.log(
      `grant revoked after a replay: inactive on replica 1 after ${lags[0]} ms, on replica 2 after ${lags[1]} ms`,
    );
    // The live refresh token of the grant is dead too.
    expect(await redeem(String(two.json.refresh_token), 1)).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant' },
    });
    expect(await active(String(two.json.refresh_token), 0)).toBe(false);

    const policy = await readPolicy(namespace, 'replayed');
    expect(policy?.metadata?.annotations?.['tokensmith.dev/grant-revoked']).toMatch(/^1@/);
    const events = await eventsAbout(namespace, policy?.metadata?.uid);
    const replayed = events.find((e) => e.startsWith('RefreshTokenReplayed: '));
    expect(replayed).toContain(`system:serviceaccount:${namespace}:orders-api`);
    expect(replayed).toMatch(/refresh token sha256:[0-9a-f]{12} of version 1 was presented again/);
    for (const token of [...exchanged, secret.REFRESH_TOKEN ?? '', secret.TOKEN ?? '']) {
      expect(events.join('\n')).not.toContain(token);
    }
    // Alert only (the default): the Secret's own token is not touched.
    expect((await secretData(namespace, 'replayed'))?.TOKEN).toBe(secret.TOKEN);
    expect(await active(secret.TOKEN ?? '')).toBe(true);
  });

  it('with onSuspiciousUse: revoke, a replay also replaces the Secret token and revokes the old one', async () => {
    const secret = await issued('strict', (spec) => ({ ...spec, onSuspiciousUse: 'revoke' }));
    const one = await redeem(secret.REFRESH_TOKEN ?? '');
    expect((await redeem(String(one.json.refresh_token))).status).toBe(200);
    expect((await redeem(secret.REFRESH_TOKEN ?? '')).status).toBe(400);
    await expect
      .poll(async () => (await secretData(namespace, 'strict'))?.TOKEN, { timeout: 15_000 })
      .not.toBe(secret.TOKEN);
    await expect.poll(() => active(secret.TOKEN ?? ''), { timeout: 5_000 }).toBe(false);
    expect(await active(String(one.json.access_token))).toBe(false);
    const replaced = await secretData(namespace, 'strict');
    expect(await active(replaced?.TOKEN ?? '')).toBe(true);
    const policy = await readPolicy(namespace, 'strict');
    expect(policy?.status?.versions?.find((v) => v.version === 2)?.mintReason).toBe('SuspiciousUse');
  });

  it('lets the same caller redeem a refresh token once more within the grace, when its answer was lost', async () => {
    const secret = await issued('retried');
    const lost = await redeem(secret.REFRESH_TOKEN ?? '', 0);
    expect(lost.status).toBe(200);
    // At once, the same caller again: a concurrent request that lost, nothing revoked.
    expect(await redeem(secret.REFRESH_TOKEN ?? '', 1)).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant' },
    });
    expect(await active(String(lost.json.access_token), 1)).toBe(true);
    // As if that answer never arrived: a second later, the same caller and refresh token, on the
    // other replica.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const again = await redeem(secret.REFRESH_TOKEN ?? '', 1);
    expect(again.status).toBe(200);
    expect(again.json.access_token).not.toBe(lost.json.access_token);
    // The pair of the lost answer is revoked (it never arrived); the new one works.
    await expect.poll(() => active(String(lost.json.access_token), 1), { timeout: 1_000 }).toBe(false);
    expect(await active(String(again.json.access_token), 0)).toBe(true);
    // Only once: a third presentation is a replay, and the grant is revoked.
    expect((await redeem(secret.REFRESH_TOKEN ?? '', 0)).status).toBe(400);
    await expect.poll(() => active(String(again.json.access_token), 1), { timeout: 1_000 }).toBe(false);
  });

  it('treats the refresh token of an answer said to be lost, when it shows up, as a replay', async () => {
    const secret = await issued('resurfaced');
    const lost = await redeem(secret.REFRESH_TOKEN ?? '');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const again = await redeem(secret.REFRESH_TOKEN ?? '');
    expect([lost.status, again.status]).toEqual([200, 200]);
    // It was not lost after all: someone holds it.
    expect((await redeem(String(lost.json.refresh_token), 1)).status).toBe(400);
    await expect.poll(() => active(String(again.json.access_token), 1), { timeout: 1_000 }).toBe(false);
  });

  it('treats a spent refresh token from another caller as a replay, even within the grace', async () => {
    const secret = await issued('stolen', (spec) => ({
      ...spec,
      consumers: { serviceAccounts: [{ namespace, name: 'orders-api' }], namespaces: [outsiders] },
    }));
    const first = await redeem(secret.REFRESH_TOKEN ?? '');
    expect(first.status).toBe(200);
    const thief = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: secret.REFRESH_TOKEN ?? '' },
      outsider,
    );
    expect(thief).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    await expect.poll(() => active(String(first.json.access_token)), { timeout: 1_000 }).toBe(false);
    const policy = await readPolicy(namespace, 'stolen');
    expect(await eventsAbout(namespace, policy?.metadata?.uid)).toContainEqual(
      expect.stringContaining(`presented again by system:serviceaccount:${outsiders}:outsider`),
    );
  });

  it('gives exactly one success when two replicas race one refresh token, over many trials', async () => {
    const secret = await issued('raced');
    let refresh = secret.REFRESH_TOKEN ?? '';
    const trials = 25;
    let conflicts = 0;
    for (let trial = 0; trial < trials; trial++) {
      const answers = await Promise.all([redeem(refresh, 0), redeem(refresh, 1)]);
      const won = answers.filter((a) => a.status === 200);
      expect(
        won,
        `trial ${trial}: ${JSON.stringify(answers.map((a) => a.json.error_description ?? a.status))}`,
      ).toHaveLength(1);
      const lost = answers.find((a) => a.status !== 200);
      expect(lost).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
      if (String(lost?.json.error_description).includes('at the same moment')) conflicts += 1;
      refresh = String(won[0]?.json.refresh_token);
      // The loser revoked nothing: the winner's tokens work.
      expect(await active(String(won[0]?.json.access_token))).toBe(true);
    }
    console.log(
      `${trials} races of two replicas: ${trials} single successes, ${conflicts} losers answered as a conflict`,
    );
    expect((await redeem(refresh)).status).toBe(200);
  });

  it('revokes what a grant issued with its version: revoke=current covers exchanged tokens', async () => {
    const secret = await issued('revoked-version');
    const one = await redeem(secret.REFRESH_TOKEN ?? '');
    expect(one.status).toBe(200);
    expect(await active(String(one.json.access_token), 1)).toBe(true);
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'revoked-version' },
      { 'tokensmith.dev/revoke': 'current' },
    );
    for (const i of [0, 1]) {
      await expect.poll(() => active(String(one.json.access_token), i), { timeout: 15_000 }).toBe(false);
    }
    expect(await redeem(String(one.json.refresh_token))).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant' },
    });
    // The replacement's own refresh token starts a grant of its own.
    const replaced = await secretData(namespace, 'revoked-version');
    expect(replaced?.REFRESH_TOKEN).not.toBe(secret.REFRESH_TOKEN);
    expect((await redeem(replaced?.REFRESH_TOKEN ?? '')).status).toBe(200);
  });

  it('answers the errors of RFC 6749 §5.2', async () => {
    const secret = await issued('errors');
    const refresh = secret.REFRESH_TOKEN ?? '';
    const unauthenticated = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refresh }, '');
    expect(unauthenticated).toMatchObject({ status: 401, json: { error: 'invalid_client' } });
    expect(unauthenticated.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(await tokenRequest({ grant_type: 'password', username: 'x' })).toMatchObject({
      status: 400,
      json: { error: 'unsupported_grant_type' },
    });
    expect(await tokenRequest({ grant_type: 'refresh_token' })).toMatchObject({
      status: 400,
      json: { error: 'invalid_request' },
    });
    expect(await redeem('tsr_made-up')).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    // An access token is not a refresh token.
    expect(await redeem(secret.TOKEN ?? '')).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    // Not a consumer: the same answer as for an unknown token, and the refresh token is not spent.
    const foreign = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refresh }, outsider);
    expect(foreign).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant', error_description: 'the refresh token is not known' },
    });
    expect((await redeem(refresh)).status).toBe(200);
  });
});
