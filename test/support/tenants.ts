/**
 * The setting of the blast-radius tests: a tenant namespace whose own TokenIssuer misbehaves and a
 * namespace of bystanders that must keep being served, both watched by one in-process controller
 * with a short Vault deadline.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { adminKubeConfig, createNamespace } from './environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from './operator.ts';

export interface TenantAndBystanders {
  tenant: string;
  bystanders: string;
  operator: TestOperator;
}

export async function startTenantAndBystanders(prefix: string): Promise<TenantAndBystanders> {
  const tenant = await createNamespace(`${prefix}-tenant`);
  const bystanders = await createNamespace(`${prefix}-bystanders`);
  const transitMount = await enableEngine('transit', 'transit');
  const operator = await startTestOperator({
    ...testConfig({ namespace: bystanders, transitMount, vaultTimeoutMs: 1500 }),
    namespaces: [tenant, bystanders],
  });
  return { tenant, bystanders, operator };
}

/** A Secret holding a Vault token, marked for the TokenIssuers `forIssuers` of its namespace. */
export async function createVaultTokenSecret(
  namespace: string,
  name: string,
  token: string,
  forIssuers: string,
): Promise<void> {
  await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, annotations: { 'tokensmith.dev/vault-credentials-for': forIssuers } },
        stringData: { token },
      },
    });
}
