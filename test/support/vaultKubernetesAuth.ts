/**
 * Sets up Vault's Kubernetes auth method against the test environment's kube-apiserver, the way a
 * platform team does for tokensmith: Vault reviews tokens with an identity of its own (a reviewer
 * service account with system:auth-delegator, as Vault running in the cluster has), because the
 * tokens tokensmith presents are meant for Vault only (audience vault) and the API server would
 * not accept them as credentials; an auth mount that trusts the API server's CA; and one role that
 * expects that audience.
 */
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { adminKubeConfig, environment, uniqueName, vaultClient } from './environment.ts';

export interface KubernetesAuthSetup {
  namespace: string;
  /** Service accounts to create in the namespace (the ones that log in). */
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
  const reviewer = `${mount}-reviewer`;
  for (const name of [...setup.serviceAccounts, reviewer]) {
    await core.createNamespacedServiceAccount({ namespace: setup.namespace, body: { metadata: { name } } });
  }
  await admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: `${setup.namespace}-${mount}-auth-delegator` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: reviewer, namespace: setup.namespace }],
    },
  });
  const review = await core.createNamespacedServiceAccountToken({
    namespace: setup.namespace,
    name: reviewer,
    body: { spec: { audiences: [], expirationSeconds: 4 * 3600 } },
  });
  await vault.enableAuth({ mount_point: mount, type: 'kubernetes' });
  await vault.write(`auth/${mount}/config`, {
    kubernetes_host: env.kubeApiserverUrl,
    kubernetes_ca_cert: env.kubeCaPem,
    token_reviewer_jwt: review.status?.token ?? '',
  });
  await vault.write(`auth/${mount}/role/${setup.role.name}`, {
    bound_service_account_names: setup.role.boundServiceAccounts,
    bound_service_account_namespaces: [setup.namespace],
    token_policies: setup.role.policies,
    token_ttl: '10m',
    // tokensmith presents tokens meant for Vault only (audience vault), never the API server's own.
    audience: 'vault',
  });
  return mount;
}
