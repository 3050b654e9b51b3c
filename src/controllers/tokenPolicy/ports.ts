/** The Kubernetes side of the policy reconciler, as narrow ports. */
import type { V1Secret } from '@kubernetes/client-node';
import type { TokenPolicy, TokenPolicyStatus } from '../../api/v1alpha1.generated.ts';
import type { ObjectKey } from '../../ports.ts';

/** Reads and writes the Secrets tokensmith owns. */
export interface SecretPort {
  /** The Secret, from the managed-Secret cache, else from the API (it may be someone else's). */
  get(key: ObjectKey): Promise<V1Secret | undefined>;
  /** Server-side apply with tokensmith's field manager; resolves to the Secret as stored. */
  apply(secret: V1Secret): Promise<V1Secret>;
}

/** Writes to TokenPolicy objects. */
export interface PolicyWriter {
  /** Server-side apply of the status subresource; skipped when nothing changed. */
  applyStatus(policy: TokenPolicy, status: TokenPolicyStatus): Promise<void>;
  /** Adds or removes tokensmith's finalizer. */
  setFinalizer(policy: TokenPolicy, present: boolean): Promise<void>;
  /** Applies this replica's entries of status.usage (a field manager of the replica's own). */
  applyUsage(
    policy: TokenPolicy,
    usage: NonNullable<TokenPolicyStatus['usage']>,
    replica: string,
  ): Promise<void>;
  /** Merges annotations into the policy (tokensmith's notices, e.g. a replayed refresh token). */
  annotate(policy: TokenPolicy, annotations: Record<string, string>): Promise<void>;
}

/** Records Events about an object (aggregated, never throwing). */
export interface EventSink {
  record(
    object: {
      apiVersion: string;
      kind: string;
      metadata?: { name?: string; namespace?: string; uid?: string };
    },
    event: { type: 'Normal' | 'Warning'; reason: string; action: string; note: string },
  ): void;
}

/** Restarts workloads once per token version (idempotent: see src/kube/workloads.ts). */
export interface WorkloadRestarterPort {
  ensureRestartedFor(
    policy: ObjectKey,
    workloads: { kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }[],
    tokenFingerprint: string,
  ): Promise<
    {
      kind: string;
      name: string;
      outcome: 'restarted' | 'unchanged' | 'missing' | 'failed';
      message?: string;
    }[]
  >;
}
