/**
 * Sharding by Leases (kube/shardLeases.ts) on the real kube-apiserver: replicas split the shards
 * evenly, never own one shard at the same moment, hand a shard over only once its work is drained,
 * give up shards they cannot renew before anyone else takes them, and refuse to act while another
 * replica disagrees on the shard count or an unsharded leader is alive.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { LeaderElector } from '../../../src/kube/leaderElection.ts';
import { ShardLeases } from '../../../src/kube/shardLeases.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { adminKubeConfig, createNamespace, environment, uniqueName } from '../../support/environment.ts';
import { kubeConfigThrough, startTcpProxy } from './tcpProxy.ts';

const log = createLogger({ level: 'silent' });
const running: { stop(): Promise<void> }[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

const TIMING = { leaseDurationMs: 3_000, renewPeriodMs: 500, retryPeriodMs: 200, renewDeadlineMs: 2_000 };

interface Replica {
  id: string;
  leases: ShardLeases;
  /** What happened, with when (ms since the epoch). */
  log: { at: number; what: 'acquired' | 'drained' | 'lost'; shard: number }[];
}

function replica(
  namespace: string,
  name: string,
  id: string,
  shards: number,
  options: { kubeConfig?: ReturnType<typeof adminKubeConfig>; drainMs?: number } = {},
): Replica {
  const leases = new ShardLeases(options.kubeConfig ?? adminKubeConfig(), {
    namespace,
    name,
    identity: id,
    shards,
    ...TIMING,
    clock: systemClock,
    log,
  });
  running.push(leases);
  const r: Replica = { id, leases, log: [] };
  void leases.start({
    acquired: (shard) => r.log.push({ at: Date.now(), what: 'acquired', shard }),
    drained: async (shard) => {
      await sleep(options.drainMs ?? 0);
      r.log.push({ at: Date.now(), what: 'drained', shard });
    },
    lost: (shard) => r.log.push({ at: Date.now(), what: 'lost', shard }),
  });
  return r;
}

/** Samples every 20 ms which replica owns each shard; fails on a shard owned twice at one moment. */
function watchOwnership(replicas: () => Replica[], shards: number): { stop(): string[] } {
  const overlaps: string[] = [];
  const timer = setInterval(() => {
    for (let s = 0; s < shards; s++) {
      const owners = replicas().filter((r) => r.leases.owns(s));
      if (owners.length > 1) overlaps.push(`shard ${s}: ${owners.map((o) => o.id).join(', ')}`);
    }
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return overlaps;
    },
  };
}

const counts = (replicas: Replica[]) => replicas.map((r) => r.leases.holding.length).sort();

describe('shard leases', () => {
  it('splits the shards evenly, rebalances as replicas come and go, and never lets two own one', async () => {
    const namespace = await createNamespace('shards');
    const name = uniqueName('tokensmith');
    const all: Replica[] = [];
    const ownership = watchOwnership(() => all, 8);

    all.push(replica(namespace, name, 'a', 8, { drainMs: 300 }));
    await expect.poll(() => counts(all), { timeout: 10_000 }).toEqual([8]);
    all.push(replica(namespace, name, 'b', 8, { drainMs: 300 }));
    await expect.poll(() => counts(all), { timeout: 15_000 }).toEqual([4, 4]);
    all.push(replica(namespace, name, 'c', 8, { drainMs: 300 }));
    await expect.poll(() => counts(all), { timeout: 15_000 }).toEqual([2, 3, 3]);

    // Every shard handed over was drained by its old holder before the new one acquired it.
    for (const [from, to] of [
      [all[0], all[1]],
      [all[0], all[2]],
      [all[1], all[2]],
    ] as const) {
      for (const got of to?.log.filter((e) => e.what === 'acquired') ?? []) {
        const drained = from?.log.find((e) => e.what === 'drained' && e.shard === got.shard);
        if (drained) expect(drained.at).toBeLessThanOrEqual(got.at);
      }
    }
    const handedOver = all.flatMap((r) => r.log.filter((e) => e.what === 'drained')).length;
    expect(handedOver).toBe(6); // a gave b four; then a and b gave c one each

    // The Leases say the same as the replicas.
    const api = adminKubeConfig().makeApiClient(CoordinationV1Api);
    const { items } = await api.listNamespacedLease({
      namespace,
      labelSelector: `tokensmith.dev/lease-group=${name},tokensmith.dev/lease-role=shard`,
    });
    expect(items).toHaveLength(8);
    for (const r of all)
      expect(items.filter((l) => l.spec?.holderIdentity === r.id).length).toBe(r.leases.holding.length);

    // c stops and hands its shards back at once: a and b take them without waiting for expiry.
    const stopped = Date.now();
    await all[2]?.leases.stop();
    all.pop();
    await expect.poll(() => counts(all), { timeout: 5_000 }).toEqual([4, 4]);
    console.log(`shards taken over after a clean stop in ${Date.now() - stopped} ms`);

    expect(ownership.stop()).toEqual([]);
    expect(all.flatMap((r) => r.log.filter((e) => e.what === 'lost'))).toEqual([]);
  });

  it('gives up shards it cannot renew before another replica takes them', async () => {
    const namespace = await createNamespace('shards-hang');
    const name = uniqueName('tokensmith');
    const proxy = await startTcpProxy(environment().kubeApiserverUrl);
    try {
      const a = replica(namespace, name, 'a', 4, { kubeConfig: kubeConfigThrough(adminKubeConfig(), proxy) });
      await expect.poll(() => a.leases.holding.length, { timeout: 10_000 }).toBe(4);
      const b = replica(namespace, name, 'b', 4);
      await expect.poll(() => counts([a, b]), { timeout: 15_000 }).toEqual([2, 2]);
      const ownership = watchOwnership(() => [a, b], 4);
      const aHeld = [...a.leases.holding];
      // a's connection hangs: no answer at all, and no new connection either.
      proxy.freezeAll();
      proxy.refuse(true);
      await expect.poll(() => b.leases.holding.length, { timeout: 20_000 }).toBe(4);
      const lost = a.log.filter((e) => e.what === 'lost');
      expect(lost.map((e) => e.shard).sort()).toEqual(aHeld);
      for (const l of lost) {
        const taken = b.log.findLast((e) => e.what === 'acquired' && e.shard === l.shard);
        expect(l.at).toBeLessThan(taken?.at ?? 0);
      }
      expect(ownership.stop()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('holds nothing while a replica runs with another shard count or an unsharded leader is alive', async () => {
    const namespace = await createNamespace('shards-mixed');
    const name = uniqueName('tokensmith');
    const four = replica(namespace, name, 'four', 4);
    await expect.poll(() => four.leases.holding.length, { timeout: 10_000 }).toBe(4);
    // A replica configured with 8 shards appears: neither may act (the hash differs), both say why.
    const eight = replica(namespace, name, 'eight', 8);
    await expect.poll(() => counts([four, eight]), { timeout: 10_000 }).toEqual([0, 0]);
    await eight.leases.stop();
    running.splice(running.indexOf(eight.leases), 1);
    // eight's member Lease was released: four takes its shards back.
    await expect.poll(() => four.leases.holding.length, { timeout: 10_000 }).toBe(4);

    // An unsharded candidate for the same name does not lead while the sharded replica is alive.
    let led = false;
    const elector = new LeaderElector(adminKubeConfig(), {
      namespace,
      name,
      identity: 'single',
      ...TIMING,
      clock: systemClock,
      log,
    });
    running.push(elector);
    void elector.run({ onStartedLeading: () => (led = true), onStoppedLeading: () => undefined });
    await sleep(2_000);
    expect(led).toBe(false);
    await four.leases.stop();
    running.splice(running.indexOf(four.leases), 1);
    await expect.poll(() => led, { timeout: 10_000 }).toBe(true);
    // And now the sharded replica waits for the leader.
    const again = replica(namespace, name, 'again', 4);
    await sleep(2_000);
    expect(again.leases.holding).toEqual([]);
  });
});
