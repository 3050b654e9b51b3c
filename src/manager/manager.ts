/**
 * A small manager in controller-runtime's shape: it owns the informers, one work queue per
 * controller and leader election. Controllers register with addController() and get a typed
 * queue; informers are added with addInformer(). start() starts every informer on every replica
 * (followers serve verification from their caches too), campaigns for the Lease (if election is
 * on), and once the caches are synced and this replica leads starts the queues, so no reconcile
 * ever sees a half-filled cache. Losing the Lease stops everything at once.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Priority, ReconcileResult, WorkQueue } from '../kube/workQueue.ts';
import { createWorkQueue } from '../kube/workQueue.ts';
import type { ResourceInformer } from '../kube/informer.ts';
import type { LeaderElector } from '../kube/leaderElection.ts';
import type { ShardLeases } from '../kube/shardLeases.ts';
import { ShardGate } from './shardGate.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../ports.ts';
import type { KeyCodec } from './keys.ts';
import type { Metrics } from '../metrics/metrics.ts';

export interface ControllerOptions<K> {
  name: string;
  keys: KeyCodec<K>;
  /** Keys reconciled at once. */
  concurrency: number;
  /**
   * Keys of one group (namespace) in flight at most while other groups wait. Default: all workers
   * but one, so one tenant's burst or slow Vault cannot starve the rest.
   */
  maxInFlightPerGroup?: number;
  reconcile(key: K): Promise<ReconcileResult | undefined>;
  /** Every key there is (from the caches): a shard this replica takes has all of its keys enqueued. */
  keysOf(): Iterable<K>;
}

/** What every controller's setup gets: its reconciler's dependencies and its share of the work. */
export interface ControllerSetup<Deps> {
  deps: Deps;
  /** Keys reconciled at once. */
  concurrency: number;
  /** A resync spreads its keys over this long. */
  resyncSpreadMs: number;
}

/** A controller's queue, in its key type. */
export interface Queue<K> {
  /** Due now; `priority` defaults to `user` (see Priority). */
  add(key: K, priority?: Priority): void;
  addAfter(key: K, ms: number): void;
  /** For a resync: the key comes due at a random moment within `spreadMs`. */
  addSpread(key: K, spreadMs: number): void;
}

interface Registered {
  name: string;
  queue: WorkQueue;
  start(): void;
  /** Enqueues every key of `shard` (it was just acquired). */
  enqueueShard(shard: number): void;
}

export class Manager {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly elector: LeaderElector | undefined;
  private readonly shards: ShardLeases | undefined;
  private readonly gate: ShardGate | undefined;
  private readonly onLostLeadership: (() => void) | undefined;
  private readonly informers: ResourceInformer<KubernetesObject>[] = [];
  private readonly controllers: Registered[] = [];
  private readonly synced: (() => void)[] = [];
  private stopped = false;
  private working = false;
  private readonly metrics: Pick<Metrics, 'reconciles' | 'reconcileDuration' | 'queueLatency'> | undefined;

  constructor(options: {
    clock: Clock;
    log: Logger;
    elector?: LeaderElector;
    /** Shards instead of one leader: this replica acts on the keys of the shards it holds. */
    shards?: ShardLeases;
    /** Called when the Lease is lost; default: stop(). */
    onLostLeadership?: () => void;
    /** Where reconciles and queue waits are counted and timed. */
    metrics?: Pick<Metrics, 'reconciles' | 'reconcileDuration' | 'queueLatency'>;
  }) {
    this.clock = options.clock;
    this.log = options.log;
    this.elector = options.elector;
    this.shards = options.shards;
    this.gate = options.shards ? new ShardGate(options.shards) : undefined;
    this.onLostLeadership = options.onLostLeadership;
    this.metrics = options.metrics;
  }

  /** Whether this replica does the work now: it leads (or runs without election) and started. */
  get leading(): boolean {
    return this.working && (this.shards === undefined || this.shards.holding.length > 0);
  }

  /** The shards this replica holds (undefined: not sharded). */
  get heldShards(): number[] | undefined {
    return this.shards?.holding;
  }

  /** Why this replica is not healthy: watches failing for longer than `downMs` (empty: healthy). */
  watchProblems(downMs = 60_000): string[] {
    return this.informers
      .map((informer, i) => ({ i, down: informer.downForMs }))
      .filter(({ down }) => down > downMs)
      .map(
        ({ i, down }) =>
          `watch ${i + 1} of ${this.informers.length} has failed for ${Math.round(down / 1000)}s`,
      );
  }

  /** Each controller's queue figures, for the metrics. */
  queueStats(): { name: string; depth: number; scheduled: number; inFlight: number; retries: number }[] {
    return this.controllers.map(({ name, queue }) => ({
      name,
      depth: queue.depth,
      scheduled: queue.scheduled,
      inFlight: queue.inFlight,
      retries: queue.retries,
    }));
  }

  /** Every key waiting out a retry backoff is due now (a server is back); how many woke. */
  retryFailed(): number {
    return this.controllers.reduce((n, c) => n + c.queue.retryFailed(), 0);
  }

  /** Every informer added. */
  allInformers(): readonly ResourceInformer<KubernetesObject>[] {
    return this.informers;
  }

  addInformer<T extends KubernetesObject>(informer: ResourceInformer<T>): ResourceInformer<T> {
    this.informers.push(informer);
    return informer;
  }

  addController<K>(options: ControllerOptions<K>): Queue<K> {
    const { keys } = options;
    const queue = createWorkQueue({
      clock: this.clock,
      logger: this.log,
      groupOf: (text) => keys.group(keys.decode(text)),
      maxInFlightPerGroup: options.maxInFlightPerGroup ?? Math.max(1, options.concurrency - 1),
      ...(this.metrics
        ? {
            onTaken: (waitedMs: number) => {
              this.metrics?.queueLatency.observe({ name: options.name }, waitedMs / 1000);
            },
          }
        : {}),
    });
    const metrics = this.metrics;
    const reconcile = metrics
      ? async (key: K) => {
          const started = performance.now();
          try {
            const result = await options.reconcile(key);
            metrics.reconciles.inc({ controller: options.name, result: 'success' });
            return result;
          } catch (err) {
            metrics.reconciles.inc({ controller: options.name, result: 'error' });
            throw err;
          } finally {
            metrics.reconcileDuration.observe(
              { controller: options.name },
              (performance.now() - started) / 1000,
            );
          }
        }
      : (key: K) => options.reconcile(key);
    const gate = this.gate;
    // Sharded: a key of a shard held elsewhere is not queued, and not reconciled if it was.
    const admits = (text: string) => !gate || gate.admits(text);
    const handle = gate
      ? async (text: string) => (await gate.run(text, () => reconcile(keys.decode(text)))) ?? {}
      : async (text: string) => (await reconcile(keys.decode(text))) ?? {};
    this.controllers.push({
      name: options.name,
      queue,
      start: () => {
        queue.start(handle, { concurrency: options.concurrency });
      },
      enqueueShard: (shard) => {
        for (const key of options.keysOf()) {
          const text = keys.encode(key);
          if (gate?.shardOf(text) === shard) queue.add(text, 'routine');
        }
      },
    });
    return {
      add: (key, priority) => {
        const text = keys.encode(key);
        if (admits(text)) queue.add(text, priority);
      },
      addAfter: (key, ms) => {
        const text = keys.encode(key);
        if (admits(text)) queue.addAfter(text, ms);
      },
      addSpread: (key, spreadMs) => {
        const text = keys.encode(key);
        if (admits(text)) queue.addAfter(text, Math.random() * spreadMs);
      },
    };
  }

  /** Called once the caches are synced, before any reconcile (e.g. to log what they hold). */
  onSynced(fn: () => void): void {
    this.synced.push(fn);
  }

  /** Resolves once every informer's cache is synced (on every replica, leader or not). */
  get cachesSynced(): Promise<void> {
    this.synced$ ??= (async () => {
      for (const informer of this.informers) informer.start();
      await Promise.all(this.informers.map((i) => i.waitForSync()));
      for (const fn of this.synced) fn();
    })();
    return this.synced$;
  }

  private synced$: Promise<void> | undefined;

  /** Resolves once the caches are synced and this replica leads (or election is off). */
  start(): Promise<void> {
    const caches = this.cachesSynced;
    const shards = this.shards;
    if (shards) return this.startSharded(caches, shards);
    return new Promise<void>((resolve, reject) => {
      if (!this.elector) {
        this.startWork(caches).then(resolve, reject);
        return;
      }
      void this.elector.run({
        onStartedLeading: () => {
          this.startWork(caches).then(resolve, reject);
        },
        onStoppedLeading: () => {
          // Another replica may act now: stop at once, like client-go's leader election.
          this.log.fatal('lost leadership; stopping so that only one replica acts');
          if (this.onLostLeadership) this.onLostLeadership();
          else void this.stop();
        },
      });
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.working = false;
    await Promise.all(this.controllers.map((c) => c.queue.shutdown()));
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.elector?.stop();
    await this.shards?.stop();
  }

  /** The queues run on every replica; each admits the keys of the shards this replica holds. */
  private async startSharded(caches: Promise<void>, shards: ShardLeases): Promise<void> {
    await this.startWork(caches);
    if (this.stopped) return;
    const gate = this.gate;
    await shards.start({
      acquired: (shard) => {
        for (const controller of this.controllers) controller.enqueueShard(shard);
      },
      drained: (shard) => gate?.drained(shard) ?? Promise.resolve(),
      lost: () => {
        // Another replica may act on the shard now: stop at once, as a leader that lost its Lease.
        this.log.fatal('lost a shard lease; stopping so that only one replica acts on its policies');
        if (this.onLostLeadership) this.onLostLeadership();
        else void this.stop();
      },
    });
  }

  private async startWork(caches: Promise<void>): Promise<void> {
    await caches;
    if (this.stopped) return;
    this.working = true;
    for (const controller of this.controllers) controller.start();
  }
}
