/**
 * Tells a real change of a TokenPolicy from an update of its status.usage alone: the replicas
 * write their usage entries every few seconds while tokens are presented, and neither a reconcile
 * nor dropping cached introspection answers is wanted for that. Remembers a hash per policy.
 */
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import { stableHash } from '../core/fingerprint.ts';
import { withoutUsage } from './policyWriter.ts';

export class PolicyChanges {
  private readonly seen = new Map<string, string>();

  /** True unless `policy` differs from the last one seen of its name in status.usage alone. */
  changed(policy: TokenPolicy): boolean {
    const key = `${policy.metadata?.namespace ?? ''}/${policy.metadata?.name ?? ''}`;
    const m = policy.metadata;
    const hash = stableHash({
      uid: m?.uid,
      generation: m?.generation,
      labels: m?.labels,
      annotations: m?.annotations,
      finalizers: m?.finalizers,
      deletionTimestamp: m?.deletionTimestamp,
      spec: policy.spec,
      status: withoutUsage(policy.status),
    });
    const before = this.seen.get(key);
    this.seen.set(key, hash);
    return before !== hash;
  }

  forget(policy: TokenPolicy): void {
    this.seen.delete(`${policy.metadata?.namespace ?? ''}/${policy.metadata?.name ?? ''}`);
  }
}
