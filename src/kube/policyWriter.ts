/**
 * Writes to TokenPolicy objects (PolicyWriter): status and finalizer by server-side apply, and
 * tokensmith's own notice annotations by merge patch.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, FIELD_MANAGER, FINALIZER, GROUP, PLURAL, VERSION } from '../api/constants.ts';
import type { TokenPolicy, TokenPolicyStatus } from '../api/v1alpha1.generated.ts';
import type { PolicyWriter } from '../controllers/tokenPolicy/ports.ts';
import type { Applier } from './apply.ts';
import { unchanged, WritesInFlight } from './ownWrites.ts';

/** The status without the replicas' usage entries. */
export function withoutUsage(status: TokenPolicyStatus | undefined): TokenPolicyStatus | undefined {
  if (!status?.usage) return status;
  const rest = { ...status };
  delete rest.usage;
  return rest;
}

/**
 * The policy controller's writes to TokenPolicies. It remembers the resourceVersion of its own
 * last status and finalizer write per policy, so the watch event of that very write wakes no
 * reconcile (`isOwnWrite`): the reconcile that wrote it had already seen everything it says.
 */
export function policyWriter(applier: Applier): PolicyWriter & {
  isOwnWrite(policy: TokenPolicy): boolean;
  forget(policy: TokenPolicy): void;
  settled(policy: TokenPolicy): Promise<void>;
} {
  const written = new Map<string, string>();
  const inFlight = new WritesInFlight();
  const keyOf = (p: TokenPolicy) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
  const remember = (policy: TokenPolicy, resourceVersion: string | undefined) => {
    if (resourceVersion === undefined) written.delete(keyOf(policy));
    else written.set(keyOf(policy), resourceVersion);
  };
  return {
    isOwnWrite(policy) {
      const version = policy.metadata?.resourceVersion;
      return version !== undefined && written.get(keyOf(policy)) === version;
    },
    forget(policy) {
      written.delete(keyOf(policy));
    },
    settled(policy) {
      return inFlight.settled(keyOf(policy));
    },
    async applyStatus(policy: TokenPolicy, status: TokenPolicyStatus) {
      // status.usage belongs to the replicas' usage writers (applyUsage), not to this one.
      if (unchanged(withoutUsage(policy.status), status)) return;
      const name = policy.metadata?.name ?? '';
      const namespace = policy.metadata?.namespace ?? '';
      const resourceVersion = await inFlight.track(
        keyOf(policy),
        applier.applyStatus(
          { group: GROUP, version: VERSION, plural: PLURAL.tokenPolicy, namespace, name },
          { apiVersion: API_VERSION, kind: 'TokenPolicy', metadata: { name, namespace }, status },
        ),
      );
      remember(policy, resourceVersion);
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
      const applied: KubernetesObject = await inFlight.track(
        keyOf(policy),
        applier.apply<KubernetesObject>({
          apiVersion: API_VERSION,
          kind: 'TokenPolicy',
          metadata: {
            name: policy.metadata?.name ?? '',
            namespace: policy.metadata?.namespace ?? '',
            finalizers: present ? [FINALIZER] : [],
          },
        }),
      );
      remember(policy, applied.metadata?.resourceVersion);
    },
  };
}
