/**
 * Invariant 5: no secret material in logs, Events, status or error messages. Runs the controller
 * through issuance, refresh tokens (redeemed and replayed at the token endpoint), a KV-held signing
 * key, drift correction, deletion and failing Vault logins, then scans everything a person or a
 * log pipeline can see — logs, Events, status, the verification server's answers and /metrics —
 * for every secret that exists: tokens, refresh tokens, private key material and Vault credentials.
 */
import { CoreV1Api, EventsV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import {
  adminKubeConfig,
  createNamespace,
  environment,
  uniqueName,
  vaultClient,
} from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createClusterIssuer,
  createPolicy,
  customObjects,
  deletePolicy,
  readPolicy,
  secretData,
  waitForIssuer,
  waitForPolicy,
  waitUntil,
} from '../../support/resources.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';
import {
  httpsCall,
  introspectAt,
  serviceAccountToken,
  verifyConfig,
  verifyTls,
  type VerifyTls,
} from '../../support/verifyServer.ts';

let namespace: string;
let operator: TestOperator;
const kvIssuer = uniqueName('kv-issuer');
const brokenIssuer = uniqueName('broken-issuer');
const BAD_VAULT_TOKEN = `hvs.${'X'.repeat(24)}leak-canary`;
let tls: VerifyTls;
/** What the verification server answered, to scan. */
const answers: string[] = [];
/** Tokens of the deleted policy, read from its Secret before deletion. */
const deletedTokens: string[] = [];

beforeAll(async () => {
  namespace = await createNamespace('leaks');
  const transitMount = await enableEngine('transit', 'transit');
  tls = await verifyTls();
  operator = await startTestOperator({
    ...testConfig({ namespace, transitMount }),
    verify: verifyConfig(tls),
    metrics: { port: 0 },
  });
  await createClusterIssuer(kvIssuer, {
    issuer: 'https://tokens.leaks.example',
    signing: { algorithm: 'RS256', backend: 'kv' },
  });
  await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'bad-token' }, stringData: { token: BAD_VAULT_TOKEN } },
    });
  await createClusterIssuer(brokenIssuer, {
    issuer: 'https://tokens.broken.example',
    vault: { auth: { token: { secretRef: { name: 'bad-token' } } } },
  });
  await waitForIssuer(kvIssuer, 'True/KeyReady');
  await waitForIssuer(brokenIssuer, 'False/VaultAuthFailed');

  await createPolicy(namespace, 'jwt', {
    issuerRef: { name: kvIssuer },
    token: { type: 'jwt', jwt: { audience: ['api'] }, ttl: '1h', refresh: { enabled: true } },
    secret: { name: 'jwt' },
  });
  await createPolicy(namespace, tokenPolicy('opaque', onIssuer(kvIssuer)));
  await createPolicy(namespace, tokenPolicy('broken', onIssuer(brokenIssuer)));
  await waitForPolicy(namespace, 'jwt', 'True/Issued');
  await waitForPolicy(namespace, 'opaque', 'True/Issued');
  await waitForPolicy(namespace, 'broken', 'False/IssuerNotReady');
  // Drift and deletion exercise the Secret and revocation paths.
  await adminKubeConfig().makeApiClient(CoreV1Api).deleteNamespacedSecret({ namespace, name: 'opaque' });
  // Revoking erases a token from its Vault record: keep what the deleted policy held, to scan for.
  const held = await secretData(namespace, 'jwt');
  // The verification server answers about every kind of token, and serves the keys.
  const port = (await operator.operator.verifyServer)?.port ?? 0;
  const caller = await serviceAccountToken(namespace, 'scanner', 'tokensmith');
  const at = `/issuers/cluster/${kvIssuer}`;
  await waitForPolicy(namespace, 'opaque', 'True/Issued');
  const opaque = (await secretData(namespace, 'opaque'))?.TOKEN ?? '';
  for (const token of [held?.TOKEN ?? '', held?.REFRESH_TOKEN ?? '', opaque, 'tsk_unknown-token-xyz']) {
    answers.push((await introspectAt(port, tls.caPem, `${at}/introspect`, caller, token)).body);
  }
  answers.push((await introspectAt(port, tls.caPem, `${at}/introspect`, BAD_VAULT_TOKEN, opaque)).body);
  for (const path of [`${at}/.well-known/openid-configuration`, `${at}/jwks.json`]) {
    answers.push((await httpsCall(port, tls.caPem, path)).body);
  }
  // The token endpoint: an exchange, then a replay of the spent refresh token (past the retry
  // grace's conflict second), and the tokens it issued among those to scan for.
  const exchange = () =>
    httpsCall(port, tls.caPem, `${at}/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: held?.REFRESH_TOKEN ?? '',
      }).toString(),
    });
  const exchanged = JSON.parse((await exchange()).body) as Record<string, string>;
  deletedTokens.push(exchanged.access_token ?? '', exchanged.refresh_token ?? '');
  await new Promise((resolve) => setTimeout(resolve, 11_000));
  answers.push((await exchange()).body);
  deletedTokens.push(held?.TOKEN ?? '', held?.REFRESH_TOKEN ?? '');
  await deletePolicy(namespace, 'jwt');
  await waitUntil('jwt policy deleted', async () => (await readPolicy(namespace, 'jwt')) === undefined, true);
}, 120_000);

afterAll(async () => {
  await operator.stop();
});

async function secretsThatExist(): Promise<string[]> {
  const vault = vaultClient();
  const prefix = `secret/data/${operator.config.vault.pathPrefix}/cluster/${kvIssuer}`;
  const secrets = [environment().vaultToken, BAD_VAULT_TOKEN, ...deletedTokens];
  for (const name of ['jwt', 'opaque']) {
    const record = (
      (await vault.read(`${prefix}/policies/${namespace}/${name}`)) as { data: { data: PolicyTokenRecord } }
    ).data.data;
    for (const v of record.versions) secrets.push(v.token ?? '', v.refreshToken ?? '');
  }
  for (const token of [...secrets]) {
    // The signature part of a JWT alone is secret-equivalent too.
    if (token.split('.').length === 3) secrets.push(token.split('.')[2] ?? '');
  }
  const keys = (await vault.read(`${prefix}/signing-keys`)) as {
    data: { data: { keys: { privateJwk: Record<string, string> }[] } };
  };
  for (const key of keys.data.data.keys) {
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) secrets.push(key.privateJwk[member] ?? '');
  }
  return secrets.filter((s) => s.length >= 16);
}

describe('leak scan', () => {
  it('finds no secret in logs, Events, status or the answers of the verification server', async () => {
    const secrets = await secretsThatExist();
    expect(secrets.length).toBeGreaterThanOrEqual(12);

    const events = await adminKubeConfig().makeApiClient(EventsV1Api).listEventForAllNamespaces();
    const policies: unknown = await customObjects().listNamespacedCustomObject({
      group: 'tokensmith.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'tokenpolicies',
    });
    const issuers: unknown = await customObjects().listClusterCustomObject({
      group: 'tokensmith.dev',
      version: 'v1alpha1',
      plural: 'clustertokenissuers',
    });
    const visible = {
      logs: operator.logs(),
      events: JSON.stringify(events.items),
      policies: JSON.stringify(policies),
      issuers: JSON.stringify(issuers),
      'verification answers': answers.join('\n'),
      metrics: await (
        await fetch(`http://127.0.0.1:${(await operator.operator.metricsServer)?.port ?? 0}/metrics`)
      ).text(),
    };
    // The scan is not empty: the run produced warnings, events and statuses to look through.
    expect(visible.logs).toContain('reconcile failed');
    expect(visible.events).toContain('VaultAuthFailed');
    expect(visible.logs).toContain('"audit":"introspect"');
    expect(visible.logs).toContain('"audit":"token"');
    expect(visible.events).toContain('RefreshTokenReplayed');
    expect(visible.metrics).toContain('tokensmith_token_expiration_timestamp_seconds{');
    expect(answers.filter((a) => a.includes('"active":true'))).toHaveLength(3);
    expect(answers.join()).toMatch(/"kty": *"RSA"/);
    for (const [where, text] of Object.entries(visible)) {
      const found = secrets.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 6)}…`);
      expect(found, `secret material in ${where}`).toEqual([]);
    }
  });
});
