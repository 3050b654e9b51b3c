/**
 * Sets up Vault's Kubernetes auth method against the test environment's kube-apiserver, the way a
 * platform team does for tokensmith: service accounts that may use the TokenReview API
 * (system:auth-delegator), an auth mount that trusts the API server's CA, and one role.
 */
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { adminKubeConfig, environment, uniqueName, vaultClient } from './environment.ts';

export interface KubernetesAuthSetup {
  namespace: string;
  /** Service accounts to create in the namespace (all may review tokens). */
  serviceAccounts: string[];
  /** The Vault role: which of those accounts it binds, and the Vault policies it grants. */
  role: { name: string; boundServiceAccounts: string[]; policies: string[] };
}

/** Returns the mount path of the new auth method. */
export async function setUpKubernetesAuth(setup: KubernetesAuthSetup): Promise<string> {
  const env = environment();
  const admin = adminKubeConfig();
  const vault = vaultClient();
  const core = admin.makeApiClient(CoreV1Api);
  const mount = uniqueName('kubernetes');
  for (const name of setup.serviceAccounts) {
    await core.createNamespacedServiceAccount({ namespace: setup.namespace, body: { metadata: { name } } });
  }
  await admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: `${setup.namespace}-${mount}-auth-delegator` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: setup.serviceAccounts.map((name) => ({
        kind: 'ServiceAccount',
        name,
        namespace: setup.namespace,
      })),
    },
  });
  await vault.enableAuth({ mount_point: mount, type: 'kubernetes' });
  await vault.write(`auth/${mount}/config`, {
    kubernetes_host: env.kubeApiserverUrl,
    kubernetes_ca_cert: env.kubeCaPem,
  });
  await vault.write(`auth/${mount}/role/${setup.role.name}`, {
    bound_service_account_names: setup.role.boundServiceAccounts,
    bound_service_account_namespaces: [setup.namespace],
    token_policies: setup.role.policies,
    token_ttl: '10m',
  });
  return mount;
}
