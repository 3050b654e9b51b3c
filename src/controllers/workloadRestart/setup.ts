/** The workload-restart controller's registration: policies whose status names a token version. */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { policyKeyOf, policyKeys, type PolicyKey } from '../../manager/keys.ts';
import type { ControllerSetup, Manager, Queue } from '../../manager/manager.ts';
import type { Watch } from '../../manager/watch.ts';
import { WorkloadRestartReconciler, restartTarget, type WorkloadRestartDeps } from './reconciler.ts';

export function setupWorkloadRestartController(
  mgr: Manager,
  setup: ControllerSetup<WorkloadRestartDeps> & {
    policies: Watch<TokenPolicy>;
    /** Every cached policy. */
    allPolicies(): TokenPolicy[];
  },
): Queue<PolicyKey> {
  const reconciler = new WorkloadRestartReconciler(setup.deps);
  const queue = mgr.addController<PolicyKey>({
    name: 'workload-restart',
    keys: policyKeys,
    concurrency: setup.concurrency,
    reconcile: (key) => reconciler.reconcile(key),
    keysOf: () =>
      setup
        .allPolicies()
        .filter((p) => restartTarget(p) !== undefined)
        .map(policyKeyOf),
  });
  // Only policies that name workloads and show a version; the rest never reach the queue.
  const changed = (policy: TokenPolicy) => {
    if (restartTarget(policy)) queue.add(policyKeyOf(policy));
  };
  setup.policies.add({
    onChange: changed,
    onResync: (policy) => {
      if (restartTarget(policy)) queue.addSpread(policyKeyOf(policy), setup.resyncSpreadMs);
    },
  });
  return queue;
}
