/**
 * Invariant 7 (one active replica): candidates for one Lease on the real kube-apiserver — only one
 * leads at a time, and another takes over once the leader stops or its lease expires.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { LeaderElector } from '../../../src/kube/leaderElection.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { adminKubeConfig, createNamespace, environment, uniqueName } from '../../support/environment.ts';
import { kubeConfigThrough, startTcpProxy } from './tcpProxy.ts';

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
  kubeConfig = adminKubeConfig(),
  times?: Map<string, number>,
) {
  const elector = new LeaderElector(kubeConfig, {
    namespace,
    name,
    identity,
    leaseDurationMs: 3_000,
    renewPeriodMs: 500,
    retryPeriodMs: 200,
    renewDeadlineMs: 2_000,
    clock: systemClock,
    log,
  });
  electors.push(elector);
  void elector.run({
    onStartedLeading: () => {
      leading.add(identity);
      times?.set(`${identity} led`, Date.now());
    },
    onStoppedLeading: () => {
      lost.add(identity);
      times?.set(`${identity} lost`, Date.now());
    },
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

  it('stops a leader whose renewals hang before a follower can take over', async () => {
    const namespace = await createNamespace('leader-hang');
    const name = uniqueName('lease');
    const leading = new Set<string>();
    const lost = new Set<string>();
    const times = new Map<string, number>();
    const proxy = await startTcpProxy(environment().kubeApiserverUrl);
    try {
      candidate(namespace, name, 'a', leading, lost, kubeConfigThrough(adminKubeConfig(), proxy), times);
      await expect.poll(() => leading.has('a'), { timeout: 10_000 }).toBe(true);
      candidate(namespace, name, 'b', leading, lost, adminKubeConfig(), times);
      // The leader's connection to the API server hangs: requests get no answer at all.
      proxy.freezeAll();
      proxy.refuse(true);
      await expect.poll(() => leading.has('b'), { timeout: 15_000 }).toBe(true);
      // a gave up (renew deadline) before b began to lead (lease expiry as b observed it).
      expect(lost.has('a')).toBe(true);
      expect(times.get('a lost') ?? Infinity).toBeLessThan(times.get('b led') ?? 0);
    } finally {
      await proxy.close();
    }
  });
});
