/**
 * Writes to TokenPolicy objects (PolicyWriter): status and finalizer by server-side apply, and
 * tokensmith's own notice annotations by merge patch.
 */
import { API_VERSION, FINALIZER, GROUP, PLURAL, VERSION } from '../api/constants.ts';
import type { TokenPolicy, TokenPolicyStatus } from '../api/v1alpha1.generated.ts';
import type { PolicyWriter } from '../controllers/tokenPolicy/ports.ts';
import type { Applier } from './apply.ts';
import { unchanged } from './ownWrites.ts';

export function policyWriter(applier: Applier): PolicyWriter {
  return {
    async applyStatus(policy: TokenPolicy, status: TokenPolicyStatus) {
      if (unchanged(policy.status, status)) return;
      const name = policy.metadata?.name ?? '';
      const namespace = policy.metadata?.namespace ?? '';
      await applier.applyStatus(
        { group: GROUP, version: VERSION, plural: PLURAL.tokenPolicy, namespace, name },
        { apiVersion: API_VERSION, kind: 'TokenPolicy', metadata: { name, namespace }, status },
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
