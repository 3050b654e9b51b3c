/**
 * Writes to TokenPolicy objects (PolicyWriter): status and finalizer by server-side apply, and
 * tokensmith's own notice annotations by merge patch.
 */
import { API_VERSION, FIELD_MANAGER, FINALIZER, GROUP, PLURAL, VERSION } from '../api/constants.ts';
import type { TokenPolicy, TokenPolicyStatus } from '../api/v1alpha1.generated.ts';
import type { PolicyWriter } from '../controllers/tokenPolicy/ports.ts';
import type { Applier } from './apply.ts';
import { unchanged } from './ownWrites.ts';

/** The status without the replicas' usage entries. */
export function withoutUsage(status: TokenPolicyStatus | undefined): TokenPolicyStatus | undefined {
  if (!status?.usage) return status;
  const rest = { ...status };
  delete rest.usage;
  return rest;
}

export function policyWriter(applier: Applier): PolicyWriter {
  return {
    async applyStatus(policy: TokenPolicy, status: TokenPolicyStatus) {
      // status.usage belongs to the replicas' usage writers (applyUsage), not to this one.
      if (unchanged(withoutUsage(policy.status), status)) return;
      const name = policy.metadata?.name ?? '';
      const namespace = policy.metadata?.namespace ?? '';
      await applier.applyStatus(
        { group: GROUP, version: VERSION, plural: PLURAL.tokenPolicy, namespace, name },
        { apiVersion: API_VERSION, kind: 'TokenPolicy', metadata: { name, namespace }, status },
      );
    },
    async applyUsage(policy: TokenPolicy, usage: NonNullable<TokenPolicyStatus['usage']>, replica: string) {
      const name = policy.metadata?.name ?? '';
      const namespace = policy.metadata?.namespace ?? '';
      await applier.applyStatus(
        { group: GROUP, version: VERSION, plural: PLURAL.tokenPolicy, namespace, name },
        { apiVersion: API_VERSION, kind: 'TokenPolicy', metadata: { name, namespace }, status: { usage } },
        // A field manager per replica: each owns its own entries of the list.
        `${FIELD_MANAGER}-usage-${replica}`.slice(0, 128),
      );
    },
    async annotate(policy: TokenPolicy, annotations: Record<string, string>) {
      await applier.mergeAnnotations(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL.tokenPolicy,
          namespace: policy.metadata?.namespace ?? '',
          name: policy.metadata?.name ?? '',
        },
        annotations,
      );
    },
    async setFinalizer(policy: TokenPolicy, present: boolean) {
      await applier.apply({
        apiVersion: API_VERSION,
        kind: 'TokenPolicy',
        metadata: {
          name: policy.metadata?.name ?? '',
          namespace: policy.metadata?.namespace ?? '',
          finalizers: present ? [FINALIZER] : [],
        },
      });
    },
  };
}
