/**
 * Discovery and JWKS over HTTPS, against the real servers: the controller's verification server
 * (TLS from files, its CA trusted by the client) serves each issuer's discovery document at the
 * issuer's own URL (routed by Host) and at its stable path, and a consumer verifies a tokensmith
 * JWT with jose's createRemoteJWKSet from the served jwks_uri, as an API would. The JWKS carries
 * an ETag (304 when unchanged); readiness, limits and unknown paths answer as they should.
 */
import { createRemoteJWKSet, customFetch, jwtVerify, type FetchImplementation } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import { jwt, onIssuer, tokenPolicy } from '../../support/policies.ts';
import {
  createPolicy,
  createReadyClusterIssuer,
  readClusterIssuer,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { httpsCall, verifyConfig, verifyTls } from '../../support/verifyServer.ts';

const ISSUER_HOST = 'tokens.verify.example';
let namespace: string;
let operator: TestOperator;
let caPem: string;
let port: number;
let issuer: string;

/** One HTTPS request to the verification server, as `host` (SNI and Host header). */
const get = (path: string, options: Parameters<typeof httpsCall>[3] = {}) =>
  httpsCall(port, caPem, path, options);

/** fetch for jose that trusts the test CA and reaches the server on 127.0.0.1. */
const trustingFetch: FetchImplementation = async (url) => {
  const target = new URL(url);
  const answer = await get(`${target.pathname}${target.search}`, { host: target.hostname });
  return new Response(answer.body, {
    status: answer.status,
    headers: { 'content-type': 'application/json' },
  });
};

beforeAll(async () => {
  namespace = await createNamespace('verify');
  const tls = await verifyTls([ISSUER_HOST]);
  caPem = tls.caPem;
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator({
    ...testConfig({ namespace, transitMount }),
    verify: verifyConfig(tls),
  });
  port = (await operator.operator.verifyServer)?.port ?? 0;
  issuer = await createReadyClusterIssuer('verify', transitMount, {
    issuer: `https://${ISSUER_HOST}/payments`,
  });
});

afterAll(async () => {
  await operator.stop();
});

describe('the verification server', () => {
  it("serves the issuer's discovery document at its own URL and at the stable path", async () => {
    const own = await get('/payments/.well-known/openid-configuration', { host: ISSUER_HOST });
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body)).toEqual({
      issuer: `https://${ISSUER_HOST}/payments`,
      jwks_uri: `https://${ISSUER_HOST}/payments/jwks.json`,
      introspection_endpoint: `https://${ISSUER_HOST}/payments/introspect`,
      // Clients present their service-account token (no OAuth client authentication method).
      token_endpoint: `https://${ISSUER_HOST}/payments/token`,
      grant_types_supported: ['refresh_token'],
      id_token_signing_alg_values_supported: ['EdDSA'],
    });
    // The issuer's status says where it is served.
    expect((await readClusterIssuer(issuer)).status?.verification).toEqual({
      discoveryUrl: `https://${ISSUER_HOST}/payments/.well-known/openid-configuration`,
      jwksUri: `https://${ISSUER_HOST}/payments/jwks.json`,
      introspectionEndpoint: `https://${ISSUER_HOST}/payments/introspect`,
      path: `/issuers/cluster/${issuer}`,
    });
    const stable = await get(`/issuers/cluster/${issuer}/.well-known/openid-configuration`);
    expect(JSON.parse(stable.body)).toMatchObject({
      issuer: `https://${ISSUER_HOST}/payments`,
      jwks_uri: `https://localhost/issuers/cluster/${issuer}/jwks.json`,
    });
  });

  it('lets a consumer verify a tokensmith JWT with createRemoteJWKSet from jwks_uri', async () => {
    await createPolicy(namespace, tokenPolicy('api-token', onIssuer(issuer), jwt(['orders-api'])));
    await waitForPolicy(namespace, 'api-token', 'True/Issued');
    const token = (await secretData(namespace, 'api-token'))?.TOKEN ?? '';
    const discovery = JSON.parse(
      (await get('/payments/.well-known/openid-configuration', { host: ISSUER_HOST })).body,
    ) as {
      issuer: string;
      jwks_uri: string;
    };
    const keys = createRemoteJWKSet(new URL(discovery.jwks_uri), { [customFetch]: trustingFetch });
    const { payload } = await jwtVerify(token, keys, { issuer: discovery.issuer, audience: 'orders-api' });
    expect(payload.sub).toBe(`system:tokenpolicy:${namespace}:api-token`);
    // A token signed by a key that is not the issuer's does not verify.
    const forged = `${token.split('.').slice(0, 2).join('.')}.${'A'.repeat(86)}`;
    await expect(jwtVerify(forged, keys, { issuer: discovery.issuer })).rejects.toThrow();
  });

  it('serves the JWKS with caching headers and answers 304 when unchanged', async () => {
    const first = await get(`/issuers/cluster/${issuer}/jwks.json`);
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('application/jwk-set+json');
    expect(first.headers['cache-control']).toBe('public, max-age=60');
    const etag = String(first.headers.etag);
    expect((JSON.parse(first.body) as { keys: { kid: string }[] }).keys.length).toBeGreaterThan(0);
    const again = await get(`/issuers/cluster/${issuer}/jwks.json`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('is ready once its caches are synced, and refuses what it does not serve', async () => {
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/issuers/cluster/no-such-issuer/jwks.json')).status).toBe(404);
    expect((await get(`/issuers/cluster/${issuer}/jwks.json`, { method: 'DELETE' })).status).toBe(405);
    const huge = await get(`/issuers/cluster/${issuer}/jwks.json`, {
      method: 'POST',
      body: 'x'.repeat(20_000),
    });
    expect(huge.status).toBe(413);
  });
});
