/** The shard of a key (kube/shardLeases.ts): stable, and even over the shards. */
import { describe, expect, it } from 'vitest';
import { shardOfKey } from '../../../src/kube/shardLeases.ts';

describe('shardOfKey', () => {
  it('gives a key the same shard every time, and a policy and its workload-restart key the same one', () => {
    expect(shardOfKey('team-a/orders', 8)).toBe(shardOfKey('team-a/orders', 8));
    expect(shardOfKey('team-a/orders', 1)).toBe(0);
  });

  it('spreads 10,000 policy keys evenly over 16 shards', () => {
    const shards = 16;
    const sizes = new Array<number>(shards).fill(0);
    for (let ns = 0; ns < 10; ns++)
      for (let i = 0; i < 1000; i++) {
        const s = shardOfKey(`team-${ns}/policy-${i}`, shards);
        sizes[s] = (sizes[s] ?? 0) + 1;
      }
    // 10,000 keys: each shard within 10 % of its 625.
    expect(Math.min(...sizes)).toBeGreaterThan(562);
    expect(Math.max(...sizes)).toBeLessThan(688);
  });
});
