/**
 * End to end against the real kube-apiserver and Vault: issuers and policies applied with the
 * API, the controller running, outcomes read from the Secret, Vault and status.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../../../src/core/fingerprint.ts';
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
  deletePolicy,
  readPolicy,
  secretData,
  waitForIssuer,
  waitForPolicy,
} from '../../support/resources.ts';
import { onIssuer, secret, tokenPolicy } from '../../support/policies.ts';

const run = promisify(execFile);
let namespace: string;
let issuer: string;
let operator: TestOperator;

async function vaultRecord(name: string): Promise<PolicyTokenRecord | undefined> {
  const path = `secret/data/${operator.config.vault.pathPrefix}/cluster/${issuer}/policies/${namespace}/${name}`;
  try {
    return ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  namespace = await createNamespace('issuance');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount }));
  issuer = uniqueName('payments');
  await createClusterIssuer(issuer, {
    issuer: 'https://tokens.payments.example',
    signing: { transitMount: operator.config.vault.transitMount },
    allowed: {
      audiences: ['orders-api'],
      scopes: ['orders:*'],
      maxTtl: '48h',
      subjects: ['checkout', 'system:tokenpolicy:{namespace}:{name}'],
      claims: ['tenant'],
    },
  });
  await waitForIssuer(issuer, 'True/KeyReady');
});

afterAll(async () => {
  await operator.stop();
});

describe('issuance', () => {
  it('issues an opaque token that Vault records before the Secret holds it', async () => {
    await createPolicy(namespace, 'opaque', {
      issuerRef: { name: issuer },
      token: { type: 'opaque', opaque: { prefix: 'tsk_', bytes: 32 }, scopes: ['orders:read'], ttl: '24h' },
      secret: { name: 'opaque-token' },
    });
    const policy = await waitForPolicy(namespace, 'opaque', 'True/Issued');
    const data = await secretData(namespace, 'opaque-token');
    expect(data?.TOKEN).toMatch(/^tsk_[A-Za-z0-9_-]{43}$/);
    const record = await vaultRecord('opaque');
    const current = record?.versions.find((v) => v.version === record.currentVersion);
    expect(current).toMatchObject({
      state: 'active',
      token: data?.TOKEN,
      tokenHash: tokenHash(data?.TOKEN ?? ''),
    });
    expect(data?.TOKEN_EXPIRES_AT).toBe(current?.expiresAt);
    expect(policy.status).toMatchObject({
      currentVersion: 1,
      fingerprint: current?.fingerprint,
      observedGeneration: 1,
    });
    expect(JSON.stringify(policy.status)).not.toContain(data?.TOKEN ?? '<none>');
  });

  it('issues a JWT with a refresh token that verifies against the published JWKS', async () => {
    await createPolicy(namespace, 'jwt', {
      issuerRef: { name: issuer },
      token: {
        type: 'jwt',
        jwt: { audience: ['orders-api'], subject: 'checkout', claims: { tenant: 'acme' } },
        scopes: ['orders:read', 'orders:write'],
        ttl: '1h',
        refresh: { enabled: true, ttl: '720h' },
      },
      secret: { name: 'jwt-token' },
    });
    await waitForPolicy(namespace, 'jwt', 'True/Issued');
    const data = await secretData(namespace, 'jwt-token');
    const clusterIssuer = await waitForIssuer(issuer, 'True/KeyReady');
    const where = clusterIssuer.status?.jwks?.configMap;
    const configMap = await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ namespace: where?.namespace ?? '', name: where?.name ?? '' });
    const jwks = JSON.parse(configMap.data?.[where?.key ?? ''] ?? '{}') as Parameters<
      typeof createLocalJWKSet
    >[0];
    const { payload, protectedHeader } = await jwtVerify(data?.TOKEN ?? '', createLocalJWKSet(jwks), {
      issuer: 'https://tokens.payments.example',
      audience: 'orders-api',
      subject: 'checkout',
      algorithms: ['EdDSA'],
    });
    expect(protectedHeader.kid).toBe(clusterIssuer.status?.activeKid);
    expect(payload).toMatchObject({ scope: 'orders:read orders:write', tenant: 'acme' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
    expect(data?.REFRESH_TOKEN).toMatch(/^tsr_/);
    const record = await vaultRecord('jwt');
    expect(record?.versions[0]).toMatchObject({
      refreshTokenHash: tokenHash(data?.REFRESH_TOKEN ?? ''),
      jti: payload.jti,
    });
  });

  it('refuses a policy outside its issuer guardrails, naming the guardrail', async () => {
    await createPolicy(namespace, 'greedy', {
      issuerRef: { name: issuer },
      token: { type: 'opaque', scopes: ['billing:write'], ttl: '1h' },
      secret: { name: 'greedy-token' },
    });
    const policy = await waitForPolicy(namespace, 'greedy', 'False/GuardrailViolated');
    expect(policy.status?.conditions?.[0]?.message).toBe(
      'scope "billing:write" is not allowed by the issuer (allowed: "orders:*") (guardrail scopes)',
    );
    expect(await secretData(namespace, 'greedy-token')).toBeUndefined();
  });

  it('reports a missing issuer', async () => {
    await createPolicy(
      namespace,
      tokenPolicy('orphan', onIssuer('no-such-issuer'), secret({ name: 'orphan-token' })),
    );
    const policy = await waitForPolicy(namespace, 'orphan', 'False/IssuerNotFound');
    expect(policy.status?.conditions?.[0]?.message).toContain(
      'ClusterTokenIssuer no-such-issuer does not exist',
    );
  });

  it('restores a Secret that is edited or deleted', async () => {
    await createPolicy(namespace, tokenPolicy('drift', onIssuer(issuer), secret({ name: 'drift-token' })));
    await waitForPolicy(namespace, 'drift', 'True/Issued');
    const original = await secretData(namespace, 'drift-token');
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const edited = await core.readNamespacedSecret({ namespace, name: 'drift-token' });
    edited.data = { ...edited.data, TOKEN: Buffer.from('tampered').toString('base64') };
    await core.replaceNamespacedSecret({ namespace, name: 'drift-token', body: edited });
    await expect
      .poll(async () => (await secretData(namespace, 'drift-token'))?.TOKEN, { timeout: 15_000 })
      .toBe(original?.TOKEN);
    await core.deleteNamespacedSecret({ namespace, name: 'drift-token' });
    await expect
      .poll(async () => (await secretData(namespace, 'drift-token'))?.TOKEN, { timeout: 15_000 })
      .toBe(original?.TOKEN);
  });

  it('revokes every version in Vault when the policy is deleted', async () => {
    await createPolicy(namespace, tokenPolicy('doomed', onIssuer(issuer), secret({ name: 'doomed-token' })));
    await waitForPolicy(namespace, 'doomed', 'True/Issued');
    expect((await readPolicy(namespace, 'doomed'))?.metadata?.finalizers).toEqual([
      'tokensmith.dev/revoke-tokens',
    ]);
    await deletePolicy(namespace, 'doomed');
    await expect.poll(() => readPolicy(namespace, 'doomed'), { timeout: 15_000 }).toBeUndefined();
    const record = await vaultRecord('doomed');
    expect(record?.versions.map((v) => [v.state, v.revokeReason])).toEqual([['revoked', 'PolicyDeleted']]);
  });

  it('shows printer columns, conditions and Events through kubectl', async () => {
    await waitForPolicy(namespace, 'opaque', 'True/Issued');
    const env = environment();
    const kubectl = (...args: string[]) =>
      run(env.kubectlPath, ['--kubeconfig', env.kubeconfigPath, ...args]);
    const { stdout: table } = await kubectl('get', 'tp', '-n', namespace, 'opaque');
    expect(table.split('\n')[0]?.split(/\s{2,}/)).toEqual([
      'NAME',
      'ISSUER',
      'TYPE',
      'READY',
      'VERSION',
      'EXPIRES',
      'NEXT ROTATION',
      'AGE',
    ]);
    expect(table.split('\n')[1]).toMatch(new RegExp(`^opaque\\s+${issuer}\\s+opaque\\s+True\\s+1\\s+`));
    const { stdout: issuers } = await kubectl('get', 'clustertokenissuers', issuer);
    expect(issuers.split('\n')[0]?.split(/\s{2,}/)).toEqual([
      'NAME',
      'READY',
      'ALGORITHM',
      'ACTIVE KEY',
      'AGE',
    ]);
    expect(issuers.split('\n')[1]).toMatch(new RegExp(`^${issuer}\\s+True\\s+EdDSA\\s+\\S{20,}`));
    const { stdout: described } = await kubectl('describe', 'tp', '-n', namespace, 'opaque');
    expect(described).toMatch(/Type:\s+Ready/);
    expect(described).toMatch(/Reason:\s+Issued/);
    expect(described).toMatch(/Normal\s+Issued\s+.*token version 1 published to the Secret/);
  });
});
