/**
 * The manager's side of sharding (kube/shardLeases.ts): which queue keys this replica acts on,
 * and how many of each shard's reconciles are in flight, so a shard is handed over only once the
 * last of them has finished.
 */
import { shardOfKey, type ShardLeases } from '../kube/shardLeases.ts';

export class ShardGate {
  private readonly inFlight = new Map<number, number>();
  private readonly waiting = new Map<number, (() => void)[]>();

  private readonly leases: ShardLeases;

  constructor(leases: ShardLeases) {
    this.leases = leases;
  }

  shardOf(key: string): number {
    return shardOfKey(key, this.leases.shards);
  }

  /** Whether this replica acts on `key` now (it holds the key's shard and is not handing it over). */
  admits(key: string): boolean {
    return this.leases.owns(this.shardOf(key));
  }

  /** Runs `work` for `key` if admitted, counted in flight for its shard; undefined when not. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T | undefined> {
    const shard = this.shardOf(key);
    if (!this.leases.owns(shard)) return undefined;
    this.inFlight.set(shard, (this.inFlight.get(shard) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (this.inFlight.get(shard) ?? 1) - 1;
      this.inFlight.set(shard, left);
      if (left === 0) for (const resolve of this.waiting.get(shard)?.splice(0) ?? []) resolve();
    }
  }

  /** Resolves once no reconcile of `shard` is in flight (none is admitted while it is handed over). */
  drained(shard: number): Promise<void> {
    if ((this.inFlight.get(shard) ?? 0) === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiting.get(shard) ?? [];
      list.push(resolve);
      this.waiting.set(shard, list);
    });
  }
}
