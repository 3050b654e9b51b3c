/** Workload restarts for a new token version, with an Event per restart or failure. */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import type { TokenVersionRecord } from '../../core/records.ts';
import type { PolicySettings } from '../../core/settings.ts';
import type { ObjectKey } from '../../ports.ts';
import type { EventSink, WorkloadRestarterPort } from './ports.ts';

/**
 * Restarts the workloads the policy names once for the active version (idempotent: see
 * src/kube/workloads.ts). Resolves to true when one could not be restarted (retry soon).
 */
export async function restartWorkloads(
  deps: { workloads?: WorkloadRestarterPort | undefined; events: EventSink },
  policy: TokenPolicy,
  key: ObjectKey,
  settings: PolicySettings,
  active: TokenVersionRecord,
): Promise<boolean> {
  if (!deps.workloads || settings.workloads.length === 0) return false;
  const results = await deps.workloads.ensureRestartedFor(key, settings.workloads, active.fingerprint);
  for (const r of results) {
    if (r.outcome === 'restarted') {
      deps.events.record(policy, {
        type: 'Normal',
        reason: 'WorkloadRestarted',
        action: 'Restart',
        note: `restarted ${r.kind} ${r.name} for token version ${active.version}`,
      });
    } else if (r.outcome !== 'unchanged') {
      deps.events.record(policy, {
        type: 'Warning',
        reason: r.outcome === 'missing' ? 'WorkloadMissing' : 'WorkloadRestartFailed',
        action: 'Restart',
        note: `${r.kind} ${r.name}: ${r.message ?? r.outcome}`,
      });
    }
  }
  return results.some((r) => r.outcome === 'failed');
}
