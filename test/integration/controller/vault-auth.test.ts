/**
 * Issuers that log in to Vault the way a deployed operator does — Kubernetes auth with a
 * service-account token from the real kube-apiserver, and AppRole — with a Vault policy that
 * grants only the issuer's own paths. Outcomes: Ready issuers, tokens in Secrets, and a clear
 * Ready=False when the Vault policy does not cover a path.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, createNamespace, uniqueName, vaultClient } from '../../support/environment.ts';
import { setUpKubernetesAuth } from '../../support/vaultKubernetesAuth.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createClusterIssuer,
  createPolicy,
  secretData,
  waitForIssuer,
  waitForPolicy,
} from '../../support/resources.ts';

let namespace: string;
let transit: string;
let operator: TestOperator;

/** A Vault policy that allows one issuer's KV folder and transit key, nothing else. */
function issuerPolicy(prefix: string, keyName: string): string {
  return `
path "secret/data/${prefix}/*" { capabilities = ["create", "read", "update", "delete"] }
path "secret/metadata/${prefix}/*" { capabilities = ["read", "delete"] }
path "${transit}/keys/${keyName}" { capabilities = ["create", "read", "update"] }
path "${transit}/sign/${keyName}" { capabilities = ["update"] }
path "${transit}/sign/${keyName}/*" { capabilities = ["update"] }
`;
}

beforeAll(async () => {
  namespace = await createNamespace('vault-auth');
  transit = await enableEngine('transit', 'transit');
  // The operator's own default auth is a token that can do nothing: each issuer brings its own.
  const config = testConfig({ namespace, transitMount: transit });
  operator = await startTestOperator({
    ...config,
    vault: { ...config.vault, auth: { method: 'token', token: 'not-a-valid-token' } },
  });
});

afterAll(async () => {
  await operator.stop();
});

describe('issuer Vault auth', () => {
  it('logs in with Kubernetes auth through a service account token request, with least privilege', async () => {
    const vault = vaultClient();
    const name = uniqueName('k8s-issuer');
    const prefix = `tokensmith/${name}`;
    const keyName = `tokensmith_cluster_${name}`;
    await vault.addPolicy({ name, rules: issuerPolicy(prefix, keyName) });
    const mount = await setUpKubernetesAuth({
      namespace,
      serviceAccounts: ['vault-client'],
      role: { name: 'tokensmith', boundServiceAccounts: ['vault-client'], policies: [name] },
    });

    await createClusterIssuer(name, {
      issuer: 'https://tokens.k8s-auth.example',
      vault: {
        pathPrefix: prefix,
        auth: {
          kubernetes: { mountPath: mount, role: 'tokensmith', serviceAccountRef: { name: 'vault-client' } },
        },
      },
      signing: { transitMount: transit, keyName },
    });
    await waitForIssuer(name, 'True/KeyReady');
    await createPolicy(namespace, 'via-k8s-auth', {
      issuerRef: { name },
      token: { type: 'jwt', jwt: { audience: ['api'] }, ttl: '1h' },
      secret: { name: 'via-k8s-auth' },
    });
    await waitForPolicy(namespace, 'via-k8s-auth', 'True/Issued');
    expect((await secretData(namespace, 'via-k8s-auth'))?.TOKEN?.split('.')).toHaveLength(3);
  });

  it('logs in with AppRole, and says so when the Vault policy does not cover the issuer path', async () => {
    const vault = vaultClient();
    const mount = uniqueName('approle');
    const name = uniqueName('approle-issuer');
    const keyName = `tokensmith-${name}`;
    await vault.enableAuth({ mount_point: mount, type: 'approle' });
    // The policy covers another folder than the one the issuer uses.
    await vault.addPolicy({ name, rules: issuerPolicy(`tokensmith/elsewhere-${name}`, keyName) });
    await vault.write(`auth/${mount}/role/tokensmith`, { token_policies: [name], token_ttl: '10m' });
    const roleId = (
      (await vault.read(`auth/${mount}/role/tokensmith/role-id`)) as { data: { role_id: string } }
    ).data.role_id;
    const secretId = (
      (await vault.write(`auth/${mount}/role/tokensmith/secret-id`, {})) as { data: { secret_id: string } }
    ).data.secret_id;
    await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedSecret({
        namespace,
        body: { metadata: { name: 'approle' }, stringData: { secretId } },
      });

    await createClusterIssuer(name, {
      issuer: 'https://tokens.approle.example',
      vault: {
        pathPrefix: `tokensmith/${name}`,
        auth: { appRole: { mountPath: mount, roleId, secretRef: { name: 'approle' } } },
      },
      signing: { transitMount: transit, keyName },
    });
    const issuer = await waitForIssuer(name, 'False/VaultPermissionDenied');
    const message = issuer.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '';
    expect(message).toContain(`tokensmith/${name}`);
    expect(message).not.toContain(secretId);

    // Fix the Vault policy: the issuer recovers on its own (retry with backoff).
    await vault.addPolicy({ name, rules: issuerPolicy(`tokensmith/${name}`, keyName) });
    await waitForIssuer(name, 'True/KeyReady', 60_000);
  });
});
