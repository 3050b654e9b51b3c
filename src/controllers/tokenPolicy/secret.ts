/** The Secret a policy owns, as tokensmith applies it (the decisions are in core/secretData.ts). */
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { API_VERSION, KIND, LABEL, MANAGED_BY_VALUE } from '../../api/constants.ts';
import type { PolicyIdentity } from '../../core/secretData.ts';
import type { PolicySettings } from '../../core/settings.ts';

export function ownerReference(policy: PolicyIdentity): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND.tokenPolicy,
    name: policy.name,
    uid: policy.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The whole Secret as tokensmith applies it (server-side apply, field manager tokensmith). */
export function desiredSecret(
  policy: PolicyIdentity,
  settings: PolicySettings,
  data: Record<string, string>,
): V1Secret {
  const encoded = Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  );
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: settings.secret.name,
      namespace: policy.namespace,
      labels: { ...settings.secret.labels, [LABEL.managedBy]: MANAGED_BY_VALUE, [LABEL.policy]: policy.name },
      annotations: settings.secret.annotations,
      ownerReferences: [ownerReference(policy)],
    },
    type: 'Opaque',
    data: encoded,
  };
}
