/**
 * Leader election through a coordination.k8s.io Lease, as client-go's leaderelection does: one
 * replica holds the Lease and renews it; the others wait until it expires. Updates carry the
 * resourceVersion they read, so two candidates can never both win. A leader that has not renewed
 * within its renew deadline (shorter than the lease) stops leading — each renewal attempt is cut
 * off at that deadline, so a hung request cannot keep it acting — and the caller exits. Followers
 * judge expiry by their own clock, from when they last saw the lease change (not from the
 * leader's renewTime), so clock skew between nodes cannot let two replicas lead.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { kubeStatus } from './apiErrors.ts';
import { GROUP_LABEL, LEASE_TIMING, LeaseObserver, ROLE_LABEL, type LeaseOptions } from './leases.ts';

export type LeaderElectionOptions = LeaseOptions;

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly options: Required<Omit<LeaderElectionOptions, 'clock' | 'log'>> &
    Pick<LeaderElectionOptions, 'clock' | 'log'>;
  private stopped = false;

  private isStopped(): boolean {
    return this.stopped;
  }
  private leading = false;

  constructor(kubeConfig: KubeConfig, options: LeaderElectionOptions) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.options = {
      ...LEASE_TIMING,
      ...options,
    };
  }

  /** The holder this candidate last said it waits for. */
  private waitingFor: string | undefined;

  /** What this candidate last saw of the lease, and when (by its own clock). */
  private observed: { record: string; at: number } | undefined;

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Waits until this replica leads, then calls `onStartedLeading` and keeps renewing;
   * `onStoppedLeading` is called once if the lease is lost. Resolves when leadership ends or stop() is called.
   */
  async run(callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void }): Promise<void> {
    const { log } = this.options;
    while (!this.isStopped() && !(await this.tryAcquireOrRenew()))
      await this.sleep(this.options.retryPeriodMs);
    if (this.isStopped()) return;
    this.leading = true;
    log.info({ lease: `${this.options.namespace}/${this.options.name}` }, 'became leader');
    callbacks.onStartedLeading();
    const { clock, renewDeadlineMs } = this.options;
    let lastRenewal = clock.now().getTime();
    while (!this.isStopped()) {
      await this.sleep(this.options.renewPeriodMs);
      if (this.isStopped()) break;
      const left = lastRenewal + renewDeadlineMs - clock.now().getTime();
      if (left > 0 && (await this.withDeadline(this.tryAcquireOrRenew(), left))) {
        lastRenewal = clock.now().getTime();
      } else if (clock.now().getTime() - lastRenewal >= renewDeadlineMs) {
        this.leading = false;
        log.error('could not renew the leader lease in time; stopping');
        callbacks.onStoppedLeading();
        return;
      }
    }
  }

  /** `attempt`'s result, or false when it takes longer than `ms` (the request is abandoned). */
  private withDeadline(attempt: Promise<boolean>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const cancel = this.options.clock.setTimer(() => {
        resolve(false);
      }, ms);
      void attempt.then((ok) => {
        cancel();
        resolve(ok);
      });
    });
  }

  /** Stops campaigning; a leader releases its lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.readNamespacedLease({
        namespace: this.options.namespace,
        name: this.options.name,
      });
      if (lease.spec?.holderIdentity === this.options.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        await this.api.replaceNamespacedLease({
          namespace: this.options.namespace,
          name: this.options.name,
          body: lease,
        });
      }
    } catch {
      // The lease will expire on its own.
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.options.clock.setTimer(resolve, ms));
  }

  /** Whether a sharded replica is alive (said once per replica, with what to do). */
  private async blockedBySharded(now: number): Promise<boolean> {
    const replica = await this.shardedReplicaAlive(now);
    if (replica && this.waitingFor !== replica)
      this.options.log.warn(
        { replica },
        'a replica running with --shards > 1 is alive; not leading until it is gone (run every replica with the same --shards)',
      );
    this.waitingFor = replica;
    return replica !== undefined;
  }

  /** What this candidate last saw of each sharded replica's member Lease, and when. */
  private readonly members = new LeaseObserver();

  /**
   * A sharded replica (--shards > 1) that is alive: while one is, this unsharded candidate must not
   * lead, or two replicas would act on the same policies (a rollout between the two modes).
   */
  private async shardedReplicaAlive(now: number): Promise<string | undefined> {
    const { items } = await this.api.listNamespacedLease({
      namespace: this.options.namespace,
      labelSelector: `${GROUP_LABEL}=${this.options.name},${ROLE_LABEL}=member`,
    });
    for (const lease of items) this.members.observe(lease, now);
    const alive = items.find((l) => this.members.live(l, now));
    return alive?.spec?.holderIdentity;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, clock } = this.options;
    const now = clock.now();
    const labels = { [GROUP_LABEL]: name, [ROLE_LABEL]: 'leader' };
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
      // MicroTime: the API server wants exactly six fractional digits, which Date's ISO form lacks.
      renewTime: new V1MicroTime(now.getTime()),
    };
    try {
      let lease: V1Lease;
      try {
        lease = await this.api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if (kubeStatus(err) !== 404) throw err;
        if (await this.blockedBySharded(now.getTime())) return false;
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace, labels },
            spec: { ...spec, acquireTime: spec.renewTime, leaseTransitions: 0 },
          },
        });
        return true;
      }
      const holder = lease.spec?.holderIdentity;
      const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
      // Expiry by our own clock: from when we first saw this exact record (holder and renewTime).
      const record = `${holder ?? ''}|${lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : ''}`;
      if (this.observed?.record !== record) this.observed = { record, at: now.getTime() };
      const expired = !holder || this.observed.at + duration < now.getTime();
      if (holder !== identity && !expired) {
        // Said once per holder, so a follower's log shows it is campaigning and who leads.
        if (this.waitingFor !== holder)
          this.options.log.info({ lease: `${namespace}/${name}`, holder }, 'leader lease is held; waiting');
        this.waitingFor = holder;
        return false;
      }
      if (holder !== identity && (await this.blockedBySharded(now.getTime()))) return false;
      this.waitingFor = undefined;
      const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
      await this.api.replaceNamespacedLease({
        namespace,
        name,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: Object.assign(lease.metadata ?? {}, { labels: { ...lease.metadata?.labels, ...labels } }),
          spec: {
            holderIdentity: spec.holderIdentity,
            leaseDurationSeconds: spec.leaseDurationSeconds,
            renewTime: spec.renewTime,
            acquireTime: lease.spec?.acquireTime,
            leaseTransitions: transitions,
            ...(holder === identity ? {} : { acquireTime: spec.renewTime }),
          },
        },
      });
      return true;
    } catch (err) {
      // 409: another candidate updated the lease first; anything else: try again next period.
      if (kubeStatus(err) !== 409)
        this.options.log.warn({ status: kubeStatus(err) }, 'leader election request failed');
      return false;
    }
  }
}
