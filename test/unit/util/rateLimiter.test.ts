/**
 * The request limiter on a fake clock: when requests start under the token bucket (burst, then
 * qps), the concurrency bound, FIFO order, refill after idling, failures passed through,
 * waiting on one timer rather than polling, and request groups (namespaces) taking turns.
 */
import { describe, expect, it } from 'vitest';
import {
  createRequestLimiter,
  limiterPerKey,
  type RequestLimiterOptions,
} from '../../../src/util/rateLimiter.ts';
import { withRequestGroup } from '../../../src/util/requestGroup.ts';
import { FakeClock, settle } from '../../support/fakeClock.ts';

function harness(options: Omit<RequestLimiterOptions, 'clock'>) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const limiter = createRequestLimiter({ ...options, clock });
  const started: { id: number; at: number }[] = [];
  const gates = new Map<number, () => void>();
  /** Sends request `id`; it completes when release(id) is called, or at once if `instant`. */
  const send = (id: number, instant = true) =>
    limiter.run(async () => {
      started.push({ id, at: clock.elapsedSince(t0) });
      if (!instant) await new Promise<void>((resolve) => gates.set(id, resolve));
      return id;
    });
  const release = (id: number) => gates.get(id)?.();
  return { clock, limiter, started, send, release, startTimes: () => started.map((s) => s.at) };
}

describe('token bucket', () => {
  it.each([
    { qps: 10, burst: 5, n: 8, times: [0, 0, 0, 0, 0, 100, 200, 300] },
    { qps: 2, burst: 1, n: 4, times: [0, 500, 1000, 1500] },
    { qps: 1000, burst: 3, n: 6, times: [0, 0, 0, 1, 2, 3] },
  ])('qps $qps, burst $burst: $n requests start at $times', async ({ qps, burst, n, times }) => {
    const h = harness({ qps, burst, maxConcurrent: 100 });
    const results = Array.from({ length: n }, (_, i) => h.send(i));
    await h.clock.advance(10_000);
    expect(h.startTimes()).toEqual(times);
    expect(await Promise.all(results)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('sustains qps over time: burst + qps·t requests in t seconds', async () => {
    const h = harness({ qps: 50, burst: 100, maxConcurrent: 1000 });
    for (let i = 0; i < 1000; i++) void h.send(i);
    await h.clock.advance(10_000);
    expect(h.started).toHaveLength(100 + 50 * 10);
  });

  it('refills to burst, and no more, while idle', async () => {
    const h = harness({ qps: 10, burst: 3, maxConcurrent: 100 });
    for (let i = 0; i < 3; i++) void h.send(i);
    await h.clock.advance(60_000);
    for (let i = 3; i < 8; i++) void h.send(i);
    await h.clock.advance(1000);
    expect(h.startTimes()).toEqual([0, 0, 0, 60_000, 60_000, 60_000, 60_100, 60_200]);
  });

  it('waits on one timer, not by polling', async () => {
    const h = harness({ qps: 1, burst: 1, maxConcurrent: 100 });
    for (let i = 0; i < 50; i++) void h.send(i);
    await settle();
    expect(h.clock.pendingTimers).toBe(1);
    expect(h.limiter.waiting).toBe(49);
    await h.clock.advance(10_000);
    expect(h.started).toHaveLength(11);
    expect(h.clock.pendingTimers).toBe(1);
  });
});

describe('concurrency bound', () => {
  it('keeps at most maxConcurrent in flight and starts the next as one settles', async () => {
    const h = harness({ qps: Infinity, maxConcurrent: 2 });
    const results = [0, 1, 2, 3].map((i) => h.send(i, false));
    await settle();
    expect(h.started.map((s) => s.id)).toEqual([0, 1]);
    expect(h.limiter.inFlight).toBe(2);
    expect(h.limiter.waiting).toBe(2);
    h.release(1);
    await settle();
    expect(h.started.map((s) => s.id)).toEqual([0, 1, 2]);
    h.release(0);
    h.release(2);
    await settle();
    h.release(3);
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
    expect(h.limiter.inFlight).toBe(0);
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('starts requests in the order they were sent (FIFO) under both limits', async () => {
    const h = harness({ qps: 5, burst: 2, maxConcurrent: 1 });
    for (let i = 0; i < 6; i++) void h.send(i);
    await h.clock.advance(5_000);
    expect(h.started.map((s) => s.id)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(h.startTimes()).toEqual([0, 0, 200, 400, 600, 800]);
  });

  it('passes a failure through unchanged and frees the slot', async () => {
    const h = harness({ qps: Infinity, maxConcurrent: 1 });
    const failure = new Error('refused');
    await expect(h.limiter.run(() => Promise.reject(failure))).rejects.toBe(failure);
    await expect(
      h.limiter.run(() => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await h.send(7)).toBe(7);
    expect(h.limiter.inFlight).toBe(0);
  });
});

describe('request groups', () => {
  /** Sends request `id` as work of `group`, as a work queue's handler would. */
  const sendAs = (h: ReturnType<typeof harness>, group: string, id: number) =>
    withRequestGroup(group, () => h.send(id));

  it('lets groups take turns: a flood of one namespace delays another by one request, not all', async () => {
    const h = harness({ qps: 10, burst: 1, maxConcurrent: 100 });
    for (let i = 0; i < 100; i++) void sendAs(h, 'flood', i);
    void sendAs(h, 'quiet', 1000);
    void sendAs(h, 'quiet', 1001);
    await h.clock.advance(1_000);
    // flood's first had the burst token and its second is first in turn; then the groups
    // alternate, one token (100 ms) each: quiet is done at 400 ms, not after flood's 10 s.
    expect(h.started.map((s) => s.id)).toEqual([0, 1, 1000, 2, 1001, 3, 4, 5, 6, 7, 8]);
    expect(h.startTimes().slice(0, 5)).toEqual([0, 100, 200, 300, 400]);
  });

  it('keeps each group FIFO and serves groups round robin as slots free', async () => {
    const h = harness({ qps: Infinity, maxConcurrent: 1 });
    void sendAs(h, 'a', 1);
    for (const [group, id] of [
      ['a', 2],
      ['a', 3],
      ['b', 10],
      ['c', 20],
      ['b', 11],
    ] as const) {
      void sendAs(h, group, id);
    }
    await settle();
    for (const id of [1, 2, 10, 20, 3, 11]) {
      h.release(id);
      await settle();
    }
    expect(h.started.map((s) => s.id)).toEqual([1, 2, 10, 20, 3, 11]);
    expect(h.limiter.waiting).toBe(0);
  });

  it('puts requests made outside any group into one group of their own', async () => {
    const h = harness({ qps: Infinity, maxConcurrent: 1 });
    void h.send(1, false);
    void sendAs(h, 'ns', 2);
    void h.send(3);
    void sendAs(h, 'ns', 4);
    await settle();
    h.release(1);
    await h.clock.advance(10);
    expect(h.started.map((s) => s.id)).toEqual([1, 2, 3, 4]);
  });
});

describe('limiterPerKey', () => {
  it('gives each server a budget of its own and forgets idle ones past the bound', async () => {
    const clock = new FakeClock();
    const limiterFor = limiterPerKey({ qps: 1, burst: 1, clock }, 2);
    const slow = limiterFor('https://slow.example');
    const order: string[] = [];
    for (let i = 0; i < 5; i++) void slow.run(() => Promise.resolve(order.push(`slow${i}`)));
    await limiterFor('https://fast.example').run(() => Promise.resolve(order.push('fast')));
    expect(order).toEqual(['slow0', 'fast']);
    expect(limiterFor('https://slow.example')).toBe(slow);
    await clock.advance(10_000);
    limiterFor('https://third.example'); // past the bound: the idle ones go
    expect(limiterFor('https://slow.example')).not.toBe(slow);
  });
});

describe('options', () => {
  it.each([
    { qps: 0 },
    { qps: -1 },
    { burst: 0 },
    { burst: 1.5 },
    { maxConcurrent: 0 },
    { maxConcurrent: Number.NaN },
  ])('refuses %o', (options) => {
    expect(() => createRequestLimiter(options)).toThrow(RangeError);
  });

  it('defaults to qps 50, burst 100, 16 in flight', async () => {
    const clock = new FakeClock();
    const limiter = createRequestLimiter({ clock });
    const gates: (() => void)[] = [];
    const t0 = clock.now();
    const starts: number[] = [];
    for (let i = 0; i < 200; i++) {
      void limiter.run(async () => {
        starts.push(clock.elapsedSince(t0));
        await new Promise<void>((resolve) => gates.push(resolve));
      });
    }
    await settle();
    expect(limiter.inFlight).toBe(16);
    expect(limiter.waiting).toBe(184);
    // Release everything as it starts; 100 start from the burst, then one per 20 ms.
    for (let t = 0; t < 2000; t += 10) {
      gates.splice(0).forEach((release) => {
        release();
      });
      await clock.advance(10);
    }
    expect(starts.filter((at) => at < 1000)).toHaveLength(100 + 49);
  });
});
