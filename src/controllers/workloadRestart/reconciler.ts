/**
 * The workload-restart controller: a small controller of its own, keyed on the policy and acting
 * on the fingerprint the policy's status publishes. Once the status says token version N (with
 * fingerprint F) is in the Secret, every workload the policy names is restarted once for F
 * (idempotent: src/kube/workloads.ts records F on the workload), with an Event per restart or
 * failure. Apart from minting, a slow or failing rollout never holds up a rotation.
 */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import type { Logger } from '../../log.ts';
import type { ObjectKey } from '../../ports.ts';
import type { EventSink, WorkloadRestarterPort } from '../tokenPolicy/ports.ts';

/** How soon a failed workload restart is tried again. */
export const WORKLOAD_RETRY_MS = 30_000;

export interface WorkloadRestartDeps {
  log: Logger;
  policies: { get(key: ObjectKey): TokenPolicy | undefined };
  workloads: WorkloadRestarterPort;
  events: EventSink;
}

/** What a policy asks to be restarted for, once its status shows a version in the Secret. */
export function restartTarget(policy: TokenPolicy | undefined):
  | {
      workloads: { kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }[];
      fingerprint: string;
      version: number;
    }
  | undefined {
  const workloads = policy?.spec.workloads ?? [];
  const fingerprint = policy?.status?.fingerprint;
  const version = policy?.status?.currentVersion;
  if (!policy || policy.metadata?.deletionTimestamp || workloads.length === 0) return undefined;
  if (fingerprint === undefined || version === undefined) return undefined;
  return { workloads: workloads.map((w) => ({ kind: w.kind, name: w.name })), fingerprint, version };
}

export class WorkloadRestartReconciler {
  private readonly deps: WorkloadRestartDeps;

  constructor(deps: WorkloadRestartDeps) {
    this.deps = deps;
  }

  async reconcile(key: ObjectKey): Promise<{ requeueAfterMs?: number }> {
    const policy = this.deps.policies.get(key);
    const target = restartTarget(policy);
    if (!policy || !target) return {};
    const results = await this.deps.workloads.ensureRestartedFor(key, target.workloads, target.fingerprint);
    for (const r of results) {
      if (r.outcome === 'restarted') {
        this.deps.events.record(policy, {
          type: 'Normal',
          reason: 'WorkloadRestarted',
          action: 'Restart',
          note: `restarted ${r.kind} ${r.name} for token version ${target.version}`,
        });
      } else if (r.outcome !== 'unchanged') {
        this.deps.events.record(policy, {
          type: 'Warning',
          reason: r.outcome === 'missing' ? 'WorkloadMissing' : 'WorkloadRestartFailed',
          action: 'Restart',
          note: `${r.kind} ${r.name}: ${r.message ?? r.outcome}`,
        });
      }
    }
    // A workload that could not be restarted still runs the old token: try again soon.
    return results.some((r) => r.outcome === 'failed') ? { requeueAfterMs: WORKLOAD_RETRY_MS } : {};
  }
}
