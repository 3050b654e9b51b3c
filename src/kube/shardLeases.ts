/**
 * Sharding across active replicas, with Kubernetes Leases as the coordination engine (no consensus
 * of our own). Every key belongs to one of N shards (`shardOfKey`: a hash of `namespace/name`);
 * each shard is a Lease, and only the replica holding a shard's Lease acts on its keys. Each
 * replica also holds a member Lease of its own, so the replicas know how many they are and each
 * aims at its fair share, ceil(N / live members).
 *
 * What a Lease guarantees here is what it guarantees client-go's leader election: updates carry the
 * resourceVersion they read, so one replica wins each shard; others judge expiry by their own clock,
 * from when they first saw the Lease's current record, never from the holder's renewTime (clock
 * skew cannot hand a shard to two replicas); a holder that cannot renew within the renew deadline
 * (shorter than the lease) gives the shard up — the caller exits, as a leader does — before anyone
 * may take it. Hand-over is graceful: a replica above its share stops admitting a shard's keys,
 * waits until none is in flight, and only then clears the Lease's holder. Each reconcile's Vault
 * writes are check-and-set besides, so even work caught on the wrong side of a hand-over cannot act
 * twice on one trigger.
 *
 * Replicas must agree on N (the hash depends on it): a replica that sees a live member configured
 * with another count, or the single leader Lease of an unsharded replica held, holds no shard and
 * says why, until the disagreement is gone.
 */
import { createHash } from 'node:crypto';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { kubeStatus } from './apiErrors.ts';
import { GROUP_LABEL, LEASE_TIMING, LeaseObserver, ROLE_LABEL, type LeaseOptions } from './leases.ts';

const SHARDS_ANNOTATION = 'tokensmith.dev/shards';

/** The shard of a queue key (`namespace/name`, or an issuer's key): FNV-1a, mod `shards`. */
export function shardOfKey(key: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

export interface ShardLeaseOptions extends LeaseOptions {
  shards: number;
}

export interface ShardCallbacks {
  /** This replica holds `shard` now: its keys are to be enqueued. */
  acquired(shard: number): void;
  /** `shard` is being handed over: resolve once none of its keys is in flight (none is admitted). */
  drained(shard: number): Promise<void>;
  /** `shard` could not be renewed in time: another replica may take it, so stop acting at once. */
  lost(shard: number): void;
}

interface Held {
  lease: V1Lease;
  /** When the renewal that wrote `lease` was sent (by our clock): the deadline counts from there. */
  renewedAt: number;
  draining?: boolean;
  /** Its reconciles have finished: the next look releases the Lease (writes happen in ticks only). */
  drained?: boolean;
}

export class ShardLeases {
  private readonly api: CoordinationV1Api;
  private readonly o: Required<Omit<ShardLeaseOptions, 'clock' | 'log'>> &
    Pick<ShardLeaseOptions, 'clock' | 'log'>;
  private readonly held = new Map<number, Held>();
  /** When this replica first saw each Lease's current record (name → resourceVersion, time). */
  private readonly observed = new LeaseObserver();
  private member: { lease: V1Lease; renewedAt: number } | undefined;
  private stopped = false;
  private blockedBy: string | undefined;
  private deadlineTimer: (() => void) | undefined;

  constructor(kubeConfig: KubeConfig, options: ShardLeaseOptions) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.o = {
      ...LEASE_TIMING,
      ...options,
    };
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  get shards(): number {
    return this.o.shards;
  }

  /** Whether this replica acts on `shard` now: it holds the Lease and is not handing it over. */
  owns(shard: number): boolean {
    const held = this.held.get(shard);
    return held !== undefined && !held.draining;
  }

  /** The shards this replica holds, in order. */
  get holding(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /**
   * Keeps this replica's share of the shards until stop(); resolves after the first look at the
   * Leases (the shards free then are taken by then).
   */
  async start(callbacks: ShardCallbacks): Promise<void> {
    await this.tick(callbacks);
    this.watchDeadlines(callbacks);
    void (async () => {
      while (!this.isStopped()) {
        await this.sleep(this.o.retryPeriodMs);
        if (this.isStopped()) break;
        await this.tick(callbacks);
      }
    })();
  }

  /** Hands every shard back (cleared holder: another replica takes it at its next look) and leaves. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.deadlineTimer?.();
    const leases = [
      ...[...this.held.values()].map((h) => h.lease),
      ...(this.member ? [this.member.lease] : []),
    ];
    this.held.clear();
    await Promise.all(leases.map((lease) => this.release(lease)));
  }

  /** The shard Lease names, by the count: replicas configured with another count use others. */
  private shardName(shard: number): string {
    return `${this.o.name}-${this.o.shards}-shard-${shard}`;
  }

  private memberName(): string {
    return `${this.o.name}-member-${createHash('sha256').update(this.o.identity).digest('hex').slice(0, 16)}`;
  }

  /** One look at the Leases: renew, take up to the fair share, hand over beyond it. */
  private async tick(callbacks: ShardCallbacks): Promise<void> {
    const now = this.o.clock.now().getTime();
    let leases: V1Lease[];
    try {
      leases = await this.list();
    } catch (err) {
      this.o.log.warn({ status: kubeStatus(err) }, 'could not list the shard leases');
      return;
    }
    const byName = new Map(leases.map((l) => [l.metadata?.name ?? '', l]));
    for (const lease of leases) this.observe(lease, now);
    await this.renewMember(byName.get(this.memberName()), now);

    const members = leases.filter((l) => l.metadata?.labels?.[ROLE_LABEL] === 'member' && this.live(l, now));
    const others = members.filter((l) => l.spec?.holderIdentity !== this.o.identity);
    const disagreeing = others.find(
      (l) => l.metadata?.annotations?.[SHARDS_ANNOTATION] !== String(this.o.shards),
    );
    const leader = byName.get(this.o.name);
    const blockedBy = disagreeing
      ? `replica ${disagreeing.spec?.holderIdentity ?? '?'} runs with --shards=${disagreeing.metadata?.annotations?.[SHARDS_ANNOTATION] ?? '?'}, this one with --shards=${this.o.shards}`
      : leader && this.live(leader, now)
        ? `the leader Lease ${this.o.name} of an unsharded replica is held by ${leader.spec?.holderIdentity ?? '?'}`
        : undefined;
    if (blockedBy !== this.blockedBy) {
      if (blockedBy)
        this.o.log.warn(
          { reason: blockedBy },
          'holding no shard until every replica runs with the same --shards',
        );
      else if (this.blockedBy) this.o.log.info('replicas agree on the shard count again');
      this.blockedBy = blockedBy;
    }
    const share = blockedBy ? 0 : Math.ceil(this.o.shards / (others.length + 1));

    // Renew what is held (and was not renewed within the renew period).
    for (const [shard, held] of this.held) {
      if (held.drained) {
        this.held.delete(shard);
        await this.release(byName.get(this.shardName(shard)) ?? held.lease);
        continue;
      }
      const listed = byName.get(this.shardName(shard));
      if (listed?.spec?.holderIdentity !== this.o.identity) {
        // Taken by another replica (it judged our Lease expired): stop acting on it at once.
        this.held.delete(shard);
        this.o.log.error(
          { shard, holder: listed?.spec?.holderIdentity },
          'shard lease taken by another replica',
        );
        callbacks.lost(shard);
        continue;
      }
      // Our own write whose answer was lost is newer than what we kept.
      if (listed.metadata?.resourceVersion !== held.lease.metadata?.resourceVersion) held.lease = listed;
      if (now - held.renewedAt < this.o.renewPeriodMs) continue;
      const lease = await this.write(held.lease, now, false);
      if (lease) Object.assign(held, { lease, renewedAt: now });
    }
    // Beyond the share: hand over the least preferred shards (drain first, then clear the holder).
    const serving = this.holding.filter((s) => !this.held.get(s)?.draining);
    for (const shard of this.byPreference(serving)
      .reverse()
      .slice(0, Math.max(0, serving.length - share)))
      this.handOver(shard, callbacks);
    // Below the share: take free or expired shards, the most preferred first.
    let wanted = share - this.held.size;
    const candidates = this.byPreference([...Array(this.o.shards).keys()].filter((s) => !this.held.has(s)));
    for (const shard of candidates) {
      if (wanted <= 0 || this.stopped) break;
      const existing = byName.get(this.shardName(shard));
      if (existing && existing.spec?.holderIdentity && this.live(existing, now)) continue;
      const lease = await this.write(existing ?? this.newLease(this.shardName(shard), 'shard'), now, true);
      if (!lease) continue;
      this.held.set(shard, { lease, renewedAt: now });
      wanted--;
      this.o.log.info({ shard, shards: this.o.shards }, 'acquired shard');
      callbacks.acquired(shard);
    }
  }

  private handOver(shard: number, callbacks: ShardCallbacks): void {
    const held = this.held.get(shard);
    if (!held || held.draining) return;
    held.draining = true;
    this.o.log.info({ shard }, 'handing shard over');
    void callbacks.drained(shard).then(() => {
      held.drained = true;
    });
  }

  /** A shard whose renew deadline passed is lost; checked apart from the ticks (a request may hang). */
  private watchDeadlines(callbacks: ShardCallbacks): void {
    const check = () => {
      const now = this.o.clock.now().getTime();
      for (const [shard, held] of this.held) {
        if (now - held.renewedAt < this.o.renewDeadlineMs) continue;
        this.held.delete(shard);
        this.o.log.error({ shard }, 'could not renew the shard lease in time');
        callbacks.lost(shard);
      }
      // Often enough that a shard is given up well before its Lease can expire for anyone else.
      if (!this.stopped)
        this.deadlineTimer = this.o.clock.setTimer(check, Math.min(1_000, this.o.renewDeadlineMs / 10));
    };
    check();
  }

  /** This replica's rendezvous order of shards: replicas prefer different ones, so they rarely collide. */
  private byPreference(shards: number[]): number[] {
    const score = (s: number) =>
      createHash('sha256').update(`${this.o.identity}/${s}`).digest().readUInt32BE(0);
    return shards
      .map((s) => ({ s, k: score(s) }))
      .sort((a, b) => b.k - a.k)
      .map(({ s }) => s);
  }

  private observe(lease: V1Lease, now: number): void {
    this.observed.observe(lease, now);
  }

  /** Held and renewed within its duration, by our clock (from when we first saw this record). */
  private live(lease: V1Lease, now: number): boolean {
    return this.observed.live(lease, now);
  }

  /** Keeps this replica's member Lease: the others count it when they work out their share. */
  private async renewMember(listed: V1Lease | undefined, now: number): Promise<void> {
    if (this.member && now - this.member.renewedAt < this.o.renewPeriodMs) return;
    // What the list shows is newest (our last write's answer may have been lost).
    const lease = await this.write(listed ?? this.newLease(this.memberName(), 'member'), now, !this.member);
    if (lease) this.member = { lease, renewedAt: now };
  }

  private newLease(name: string, role: 'shard' | 'member'): V1Lease {
    return {
      metadata: {
        name,
        namespace: this.o.namespace,
        labels: { [GROUP_LABEL]: this.o.name, [ROLE_LABEL]: role },
        annotations: { [SHARDS_ANNOTATION]: String(this.o.shards) },
      },
      spec: { leaseTransitions: 0 },
    };
  }

  /** Writes `lease` as held by this replica (create when new); undefined on a conflict or error. */
  private async write(lease: V1Lease, now: number, acquiring: boolean): Promise<V1Lease | undefined> {
    const renewTime = new V1MicroTime(now);
    const previous = lease.spec;
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: lease.metadata,
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
        renewTime,
        acquireTime: acquiring ? renewTime : previous?.acquireTime,
        leaseTransitions: (previous?.leaseTransitions ?? 0) + (acquiring && previous?.holderIdentity ? 1 : 0),
      },
    };
    const { namespace } = this.o;
    const name = lease.metadata?.name ?? '';
    try {
      return lease.metadata?.resourceVersion
        ? await this.api.replaceNamespacedLease({ namespace, name, body })
        : await this.api.createNamespacedLease({ namespace, body });
    } catch (err) {
      // 409: another replica wrote it first (it holds it, or we look again at the next tick).
      if (kubeStatus(err) !== 409)
        this.o.log.warn({ lease: name, status: kubeStatus(err) }, 'shard lease request failed');
      return undefined;
    }
  }

  /** Clears our holder from `lease`, so the next replica need not wait for it to expire. */
  private async release(lease: V1Lease): Promise<void> {
    const name = lease.metadata?.name ?? '';
    try {
      await this.api.replaceNamespacedLease({
        namespace: this.o.namespace,
        name,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: lease.metadata,
          spec: {
            leaseDurationSeconds: 1,
            acquireTime: lease.spec?.acquireTime,
            renewTime: lease.spec?.renewTime,
            leaseTransitions: lease.spec?.leaseTransitions,
          },
        },
      });
      this.o.log.info({ lease: name }, 'released lease');
    } catch {
      // It expires on its own.
    }
  }

  private async list(): Promise<V1Lease[]> {
    // The leader Lease of unsharded replicas carries the group label too (leaderElection.ts).
    const list = await this.api.listNamespacedLease({
      namespace: this.o.namespace,
      labelSelector: `${GROUP_LABEL}=${this.o.name}`,
    });
    return list.items;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.o.clock.setTimer(resolve, ms));
  }
}
