/**
 * Tells a real change of a TokenPolicy from an update of its status.usage alone (the replicas
 * write their usage entries every few seconds while tokens are presented, and neither a reconcile
 * nor dropping cached introspection answers is wanted for that), and says how urgent a change is
 * for the work queue: a new revoke request (or a replayed refresh token) is `urgent`; a new
 * policy, a rotate request, a spec edit or a deletion is `user` (someone is waiting for it);
 * anything else that changed is `routine`. Remembers a hash and those fields per policy.
 */
import { ANNOTATION } from '../api/constants.ts';
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import { stableHash } from '../core/fingerprint.ts';
import type { Priority } from './workQueueTypes.ts';
import { withoutUsage } from './policyWriter.ts';

interface Seen {
  hash: string;
  revoke: string | undefined;
  grantRevoked: string | undefined;
  rotate: string | undefined;
  generation: number | undefined;
  deleting: boolean;
}

export class PolicyChanges {
  private readonly seen = new Map<string, Seen>();

  /** True unless `policy` differs from the last one seen of its name in status.usage alone. */
  changed(policy: TokenPolicy): boolean {
    return this.change(policy) !== 'none';
  }

  /** How `policy` differs from the last one seen of its name ('none': in status.usage alone). */
  change(policy: TokenPolicy): Priority | 'none' {
    const key = `${policy.metadata?.namespace ?? ''}/${policy.metadata?.name ?? ''}`;
    const m = policy.metadata;
    const annotations = m?.annotations ?? {};
    const next: Seen = {
      hash: stableHash({
        uid: m?.uid,
        generation: m?.generation,
        labels: m?.labels,
        annotations: m?.annotations,
        finalizers: m?.finalizers,
        deletionTimestamp: m?.deletionTimestamp,
        spec: policy.spec,
        status: withoutUsage(policy.status),
      }),
      revoke: annotations[ANNOTATION.revoke],
      grantRevoked: annotations[ANNOTATION.grantRevoked],
      rotate: annotations[ANNOTATION.rotate],
      generation: m?.generation,
      deleting: m?.deletionTimestamp !== undefined,
    };
    const before = this.seen.get(key);
    this.seen.set(key, next);
    if (!before) return 'user';
    if (before.hash === next.hash) return 'none';
    if (before.revoke !== next.revoke || before.grantRevoked !== next.grantRevoked) return 'urgent';
    if (
      before.rotate !== next.rotate ||
      before.generation !== next.generation ||
      before.deleting !== next.deleting
    )
      return 'user';
    return 'routine';
  }

  forget(policy: TokenPolicy): void {
    this.seen.delete(`${policy.metadata?.namespace ?? ''}/${policy.metadata?.name ?? ''}`);
  }
}
