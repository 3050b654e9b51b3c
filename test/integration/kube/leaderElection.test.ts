/**
 * Invariant 7 (one active replica): candidates for one Lease on the real kube-apiserver — only one
 * leads at a time, and another takes over once the leader stops or its lease expires.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { LeaderElector } from '../../../src/kube/leaderElection.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { adminKubeConfig, createNamespace, uniqueName } from '../../support/environment.ts';

const log = createLogger({ level: 'silent' });
const electors: LeaderElector[] = [];

afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});

function candidate(
  namespace: string,
  name: string,
  identity: string,
  leading: Set<string>,
  lost: Set<string>,
) {
  const elector = new LeaderElector(adminKubeConfig(), {
    namespace,
    name,
    identity,
    leaseDurationMs: 3_000,
    renewPeriodMs: 500,
    retryPeriodMs: 200,
    clock: systemClock,
    log,
  });
  electors.push(elector);
  void elector.run({
    onStartedLeading: () => leading.add(identity),
    onStoppedLeading: () => lost.add(identity),
  });
  return elector;
}

describe('leader election', () => {
  it('lets exactly one of three candidates lead, and hands over when it stops', async () => {
    const namespace = await createNamespace('leader');
    const name = uniqueName('lease');
    const leading = new Set<string>();
    const lost = new Set<string>();
    const all = ['a', 'b', 'c'].map((id) => candidate(namespace, name, id, leading, lost));

    await expect.poll(() => leading.size, { timeout: 10_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // several renew periods
    expect(leading.size).toBe(1);
    expect(all.filter((e) => e.isLeader)).toHaveLength(1);
    const first = [...leading][0] ?? '';
    const lease = await adminKubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace, name });
    expect(lease.spec?.holderIdentity).toBe(first);

    // The leader stops and releases the lease: another candidate takes over.
    await all[['a', 'b', 'c'].indexOf(first)]?.stop();
    await expect.poll(() => leading.size, { timeout: 10_000 }).toBe(2);
    expect(all.filter((e) => e.isLeader)).toHaveLength(1);
    expect(lost.size).toBe(0);
  });
});
