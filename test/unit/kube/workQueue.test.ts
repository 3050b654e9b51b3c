/**
 * The work queue's contract, proved by what was processed when (on a fake clock): de-duplication,
 * one run per key at a time, re-runs after adds during processing, the concurrency bound, retry
 * backoff (growth, cap, jitter, reset), terminal errors, due-time scheduling and shutdown.
 */
import { describe, expect, it } from 'vitest';
import { TokensmithError } from '../../../src/errors.ts';
import { createWorkQueue, type ReconcileResult, type WorkQueueOptions } from '../../../src/kube/workQueue.ts';
import { FakeClock, settle } from '../../support/fakeClock.ts';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A queue on a fake clock that records every run: which key, when (ms since start), and overlaps. */
function harness(options: Omit<WorkQueueOptions, 'clock'> & { concurrency?: number } = {}) {
  const clock = new FakeClock();
  const start = clock.now();
  const queue = createWorkQueue({ random: () => 0, ...options, clock });
  const runs: { key: string; at: number }[] = [];
  const running = new Map<string, number>();
  let maxInFlight = 0;
  let maxSameKey = 0;
  let behaviour: (key: string, attempt: number) => Promise<ReconcileResult | undefined> = () =>
    Promise.resolve(undefined);
  const attempts = new Map<string, number>();
  const begin = () => {
    queue.start(
      async (key) => {
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        runs.push({ key, at: clock.elapsedSince(start) });
        running.set(key, (running.get(key) ?? 0) + 1);
        maxSameKey = Math.max(maxSameKey, running.get(key) ?? 0);
        maxInFlight = Math.max(
          maxInFlight,
          [...running.values()].reduce((a, b) => a + b, 0),
        );
        try {
          return await behaviour(key, attempt);
        } finally {
          running.set(key, (running.get(key) ?? 1) - 1);
        }
      },
      { concurrency: options.concurrency ?? 1 },
    );
  };
  return {
    clock,
    queue,
    runs,
    begin,
    behave(fn: typeof behaviour) {
      behaviour = fn;
    },
    keys: () => runs.map((r) => r.key),
    times: (key: string) => runs.filter((r) => r.key === key).map((r) => r.at),
    get maxInFlight() {
      return maxInFlight;
    },
    get maxSameKey() {
      return maxSameKey;
    },
  };
}

const transient = () => new TokensmithError('VaultUnreachable', 'Vault could not be reached');

describe('de-duplication', () => {
  it.each([
    { name: 'one add', adds: ['a'], processed: ['a'] },
    { name: 'the same key three times', adds: ['a', 'a', 'a'], processed: ['a'] },
    {
      name: 'interleaved keys, first-added order',
      adds: ['a', 'b', 'a', 'c', 'b'],
      processed: ['a', 'b', 'c'],
    },
  ])('$name before start → each key processed once', async ({ adds, processed }) => {
    const h = harness();
    for (const key of adds) h.queue.add(key);
    expect(h.queue.depth).toBe(processed.length);
    h.begin();
    await h.clock.advance(0);
    expect(h.keys()).toEqual(processed);
    expect(h.queue.depth).toBe(0);
  });
});

describe('one run per key at a time', () => {
  it('adds during processing cause exactly one more run, after the first ends', async () => {
    const h = harness({ concurrency: 4 });
    const gate = deferred();
    h.behave((_key, attempt) =>
      attempt === 1 ? gate.promise.then(() => undefined) : Promise.resolve(undefined),
    );
    h.begin();
    h.queue.add('a');
    await settle();
    expect(h.queue.inFlight).toBe(1);
    h.queue.add('a');
    h.queue.add('a');
    await h.clock.advance(1000);
    expect(h.keys()).toEqual(['a']); // not started again while the first run is in flight
    gate.resolve();
    await h.clock.advance(0);
    expect(h.keys()).toEqual(['a', 'a']);
    expect(h.maxSameKey).toBe(1);
    await h.clock.advance(60_000);
    expect(h.keys()).toEqual(['a', 'a']);
  });

  it('an add during a failing run re-runs at once instead of waiting for the backoff', async () => {
    const h = harness();
    const gate = deferred();
    h.behave(async (_key, attempt) => {
      if (attempt === 1) {
        await gate.promise;
        throw transient();
      }
      return undefined;
    });
    h.begin();
    h.queue.add('a');
    await settle();
    h.queue.add('a');
    gate.resolve();
    await h.clock.advance(0);
    expect(h.times('a')).toEqual([0, 0]);
    await h.clock.advance(10 * 60_000);
    expect(h.times('a')).toEqual([0, 0]); // the second run succeeded: no retry pending
  });
});

describe('concurrency', () => {
  it.each([1, 3, 8])('never runs more than %i handlers at once, and runs every key', async (concurrency) => {
    const h = harness({ concurrency });
    const gates = new Map<string, Deferred>();
    h.behave((key) => {
      const gate = deferred();
      gates.set(key, gate);
      return gate.promise.then(() => undefined);
    });
    h.begin();
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (const key of keys) h.queue.add(key);
    await settle();
    expect(h.queue.inFlight).toBe(concurrency);
    expect(h.queue.depth).toBe(20 - concurrency);
    while (h.runs.length < keys.length || h.queue.inFlight > 0) {
      for (const gate of gates.values()) gate.resolve();
      await settle();
    }
    expect(h.maxInFlight).toBe(concurrency);
    expect(h.keys()).toEqual(keys);
  });
});

describe('retries', () => {
  it.each([
    {
      name: 'no jitter',
      random: 0,
      gaps: [500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000],
    },
    {
      name: 'full jitter',
      random: 0.999,
      gaps: [400, 800, 1600, 3201, 6402, 12803, 25606, 51213, 102426, 204851, 240060, 240060],
    },
  ])('backs off exponentially to the 5-minute cap ($name)', async ({ random, gaps }) => {
    const h = harness({ random: () => random });
    h.behave(() => Promise.reject(transient()));
    h.begin();
    h.queue.add('a');
    await h.clock.advance(2 * 60 * 60_000);
    const times = h.times('a');
    const observed = times.slice(1, gaps.length + 1).map((t, i) => t - (times[i] ?? 0));
    expect(observed).toEqual(gaps);
    expect(h.queue.retries).toBe(times.length);
  });

  it('keeps every retry delay within (0.8·d, d] for random jitter', async () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const h = harness({ random, backoff: { baseMs: 1000, maxMs: 60_000 } });
    h.behave(() => Promise.reject(transient()));
    h.begin();
    h.queue.add('a');
    await h.clock.advance(60 * 60_000);
    const times = h.times('a');
    times.slice(1).forEach((t, i) => {
      const d = Math.min(60_000, 1000 * 2 ** i);
      const gap = t - (times[i] ?? 0);
      expect(gap).toBeGreaterThanOrEqual(0.8 * d);
      expect(gap).toBeLessThanOrEqual(d);
    });
  });

  it('resets a key’s backoff when it succeeds', async () => {
    const h = harness();
    let failing = true;
    h.behave(() => (failing ? Promise.reject(transient()) : Promise.resolve(undefined)));
    h.begin();
    h.queue.add('a');
    await h.clock.advance(3499); // runs at 0, 500, 1500 — the next retry would be at 3500
    failing = false;
    await h.clock.advance(1); // 3500: succeeds
    expect(h.times('a')).toEqual([0, 500, 1500, 3500]);
    failing = true;
    h.queue.add('a'); // 3500: fails again, so the backoff starts over at 500
    await h.clock.advance(1000);
    expect(h.times('a')).toEqual([0, 500, 1500, 3500, 3500, 4000]);
  });

  it('retries every backing-off key at once when asked (a server is back), keeping its count', async () => {
    const h = harness({ concurrency: 2 });
    let failing = true;
    h.behave(() => (failing ? Promise.reject(transient()) : Promise.resolve(undefined)));
    h.begin();
    h.queue.add('a');
    h.queue.add('b');
    await h.clock.advance(3499); // each ran at 0, 500, 1500; the next retries are due at 3500
    h.queue.add('fine');
    failing = false;
    await h.clock.advance(0);
    expect(h.times('fine')).toEqual([3499]);
    expect(h.queue.retryFailed()).toBe(2); // a and b, not the key that succeeded
    await h.clock.advance(0);
    expect(h.times('a')).toEqual([0, 500, 1500, 3499]);
    expect(h.times('b')).toEqual([0, 500, 1500, 3499]);
    expect(h.queue.retryFailed()).toBe(0); // nothing is backing off now
    expect(h.queue.scheduled).toBe(0);
  });

  it('keeps backoff per key: one failing key does not slow another', async () => {
    const h = harness();
    h.behave((key) =>
      key === 'bad' ? Promise.reject(transient()) : Promise.resolve({ requeueAfterMs: 500 }),
    );
    h.begin();
    h.queue.add('bad');
    h.queue.add('good');
    await h.clock.advance(3000);
    expect(h.times('bad')).toEqual([0, 500, 1500]);
    expect(h.times('good')).toEqual([0, 500, 1000, 1500, 2000, 2500, 3000]);
  });

  it.each([
    { name: 'InvalidSpec', error: new TokensmithError('InvalidSpec', 'bad spec') },
    { name: 'GuardrailViolated', error: new TokensmithError('GuardrailViolated', 'too much') },
  ])('does not retry a terminal error ($name) until the key is added again', async ({ error }) => {
    const h = harness();
    h.behave(() => Promise.reject(error));
    h.begin();
    h.queue.add('a');
    await h.clock.advance(60 * 60_000);
    expect(h.times('a')).toEqual([0]);
    expect(h.queue.retries).toBe(0);
    expect(h.queue.scheduled).toBe(0);
    h.queue.add('a');
    await h.clock.advance(0);
    expect(h.times('a')).toEqual([0, 3_600_000]);
  });

  it.each([
    { name: 'a plain Error', error: new Error('boom') },
    { name: 'a thrown string', error: 'boom' },
    { name: 'a retryable TokensmithError', error: transient() },
  ])('retries $name', async ({ error }) => {
    const h = harness();
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a non-Error on purpose
    h.behave(() => Promise.reject(error));
    h.begin();
    h.queue.add('a');
    await h.clock.advance(1500);
    expect(h.times('a')).toEqual([0, 500, 1500]);
  });

  it('treats an invalid requeueAfterMs as a failure', async () => {
    const h = harness();
    h.behave(() => Promise.resolve({ requeueAfterMs: Number.NaN }));
    h.begin();
    h.queue.add('a');
    await h.clock.advance(600);
    expect(h.times('a')).toEqual([0, 500]);
  });
});

describe('due times', () => {
  it('runs thousands of scheduled keys in due order, each at its due time, with one timer', async () => {
    const h = harness({ concurrency: 16 });
    h.begin();
    const due = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const ms = ((i * 7919 + 2500) % 5000) * 1000 + 1000; // distinct, shuffled due times
      due.set(`p${i}`, ms);
      if (i % 2 === 0) h.queue.addAfter(`p${i}`, ms);
      else h.queue.addAt(`p${i}`, new Date(h.clock.now().getTime() + ms));
    }
    expect(h.clock.pendingTimers).toBe(1);
    expect(h.queue.scheduled).toBe(5000);
    await h.clock.advance(10_000);
    expect(h.clock.pendingTimers).toBe(1);
    await h.clock.advance(6000 * 1000);
    expect(h.clock.pendingTimers).toBe(0);
    expect(h.runs).toHaveLength(5000);
    expect(h.runs).toEqual([...due].sort((a, b) => a[1] - b[1]).map(([key, at]) => ({ key, at })));
  });

  it.each([
    {
      name: 'a later addAfter keeps the earlier',
      calls: [
        ['after', 10_000],
        ['after', 20_000],
      ],
      runs: [10_000],
    },
    {
      name: 'an earlier addAfter wins',
      calls: [
        ['after', 20_000],
        ['after', 10_000],
      ],
      runs: [10_000],
    },
    {
      name: 'add() makes a scheduled key due now',
      calls: [
        ['after', 20_000],
        ['add', 0],
      ],
      runs: [0],
    },
    {
      name: 'addAfter on a ready key changes nothing',
      calls: [
        ['add', 0],
        ['after', 5_000],
      ],
      runs: [0],
    },
    { name: 'a past addAt is due now', calls: [['at', -5_000]], runs: [0] },
  ] as const)('earliest wins: $name', async ({ calls, runs }) => {
    const h = harness();
    for (const [kind, ms] of calls) {
      if (kind === 'add') h.queue.add('a');
      else if (kind === 'after') h.queue.addAfter('a', ms);
      else h.queue.addAt('a', new Date(h.clock.now().getTime() + ms));
    }
    h.begin();
    await h.clock.advance(60_000);
    expect(h.times('a')).toEqual(runs);
  });

  it('requeues after requeueAfterMs, and an add during processing can move that earlier', async () => {
    const h = harness();
    h.behave(() => Promise.resolve({ requeueAfterMs: 10_000 }));
    h.begin();
    h.queue.add('a');
    await h.clock.advance(25_000);
    expect(h.times('a')).toEqual([0, 10_000, 20_000]);

    const gate = deferred();
    h.behave(() => gate.promise.then(() => ({ requeueAfterMs: 10_000 })));
    await h.clock.advance(5_000); // 30 000: runs and waits on the gate
    h.queue.addAfter('a', 1_000);
    gate.resolve();
    await h.clock.advance(1_000);
    expect(h.times('a')).toEqual([0, 10_000, 20_000, 30_000, 31_000]);
  });
});

describe('shutdown', () => {
  it('waits for in-flight handlers, then ignores adds and drops scheduled work', async () => {
    const h = harness({ concurrency: 2 });
    const gate = deferred();
    h.behave(() => gate.promise.then(() => Promise.reject(transient())));
    h.begin();
    h.queue.add('a');
    h.queue.add('b');
    h.queue.add('c');
    h.queue.addAfter('d', 1_000);
    await settle();
    let done = false;
    const stopping = h.queue.shutdown().then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    h.queue.add('e');
    gate.resolve();
    await stopping;
    expect(h.queue.inFlight).toBe(0);
    await h.clock.advance(60 * 60_000);
    expect(h.keys()).toEqual(['a', 'b']); // no retry of the failures, no c, d or e
    expect(h.clock.pendingTimers).toBe(0);
    await h.queue.shutdown(); // idempotent
  });

  it('resolves at once when nothing is in flight', async () => {
    const h = harness();
    h.queue.addAfter('a', 1000);
    await h.queue.shutdown();
    expect(h.clock.pendingTimers).toBe(0);
  });
});

describe('guards', () => {
  it('refuses empty keys, invalid delays, bad concurrency and a second start', () => {
    const h = harness();
    expect(() => {
      h.queue.add('');
    }).toThrow(TypeError);
    expect(() => {
      h.queue.addAfter('a', Number.POSITIVE_INFINITY);
    }).toThrow(RangeError);
    expect(() => {
      h.queue.addAt('a', new Date('nonsense'));
    }).toThrow(RangeError);
    expect(() => {
      h.queue.start(() => Promise.resolve(), { concurrency: 0 });
    }).toThrow(RangeError);
    h.begin();
    expect(() => {
      h.begin();
    }).toThrow(/already started/);
  });
});

describe('fairness between groups', () => {
  const byNamespace = (key: string) => key.split('/')[0] ?? '';

  it('takes ready keys from the groups in turn', async () => {
    const h = harness({ groupOf: byNamespace });
    for (const key of ['a/1', 'a/2', 'a/3', 'b/1', 'c/1', 'b/2']) h.queue.add(key);
    h.begin();
    await h.clock.advance(0);
    expect(h.keys()).toEqual(['a/1', 'b/1', 'c/1', 'a/2', 'b/2', 'a/3']);
  });

  it('keeps a group that holds its share of workers from taking the rest while others wait', async () => {
    const h = harness({ groupOf: byNamespace, maxInFlightPerGroup: 1, concurrency: 2 });
    const gates = new Map<string, Deferred>();
    h.behave((key) => {
      const gate = deferred();
      gates.set(key, gate);
      return gate.promise.then(() => undefined);
    });
    const release = async (key: string) => {
      gates.get(key)?.resolve();
      await h.clock.advance(0);
    };
    h.begin();
    for (const key of ['slow/1', 'slow/2', 'slow/3']) h.queue.add(key);
    await settle();
    // Alone with work, the slow group may use both workers (no worker idles while work waits).
    expect(h.keys()).toEqual(['slow/1', 'slow/2']);
    h.queue.add('other/1');
    await release('slow/1');
    // The freed worker goes to the waiting group, not to the third slow key.
    expect(h.keys()).toEqual(['slow/1', 'slow/2', 'other/1']);
    h.queue.add('other/2');
    await release('other/1');
    // slow is at its cap (slow/2 in flight) while other has work: other gets the worker.
    expect(h.keys()).toEqual(['slow/1', 'slow/2', 'other/1', 'other/2']);
    await release('other/2');
    // Nobody else waits: slow may go past its cap again.
    expect(h.keys()).toEqual(['slow/1', 'slow/2', 'other/1', 'other/2', 'slow/3']);
    await release('slow/2');
    await release('slow/3');
    expect(h.queue.inFlight).toBe(0);
  });
});

describe('priorities', () => {
  const byNamespace = (key: string) => key.split('/')[0] ?? '';

  it('takes urgent keys first, then user ones, then routine ones; FIFO and groups in turn within each', async () => {
    const h = harness({ groupOf: byNamespace });
    for (let i = 0; i < 3; i++) h.queue.add(`bulk/${i}`, 'routine');
    h.queue.add('a/new');
    h.queue.add('b/revoke', 'urgent');
    h.queue.add('a/rotate', 'user');
    h.queue.add('c/revoke', 'urgent');
    h.begin();
    await h.clock.advance(0);
    expect(h.keys()).toEqual(['b/revoke', 'c/revoke', 'a/new', 'a/rotate', 'bulk/0', 'bulk/1', 'bulk/2']);
  });

  it('moves a waiting key up when it is asked for more urgently, never down', async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.queue.add(`k/${i}`, 'routine');
    h.queue.add('k/2', 'urgent'); // already ready: it moves up
    h.queue.add('k/0', 'routine');
    h.queue.add('k/1', 'user');
    h.queue.add('k/1', 'routine'); // asked again at a lower level: stays where it is
    h.begin();
    await h.clock.advance(0);
    expect(h.keys()).toEqual(['k/2', 'k/1', 'k/0']);
  });

  it('a revocation asked for during a wave of scheduled rotations runs next, not after the wave', async () => {
    const h = harness({ concurrency: 2 });
    const gates: Deferred[] = [];
    h.behave(() => {
      const gate = deferred();
      gates.push(gate);
      return gate.promise.then(() => undefined);
    });
    for (let i = 0; i < 1000; i++) h.queue.addAfter(`wave/${i}`, 1000);
    h.begin();
    await h.clock.advance(1000);
    expect(h.keys()).toEqual(['wave/0', 'wave/1']);
    h.queue.add('team/revoke', 'urgent');
    gates[0]?.resolve();
    await h.clock.advance(0);
    expect(h.keys().slice(0, 3)).toEqual(['wave/0', 'wave/1', 'team/revoke']);
    expect(h.queue.depth).toBe(998);
  });

  it('keeps the level for a retry, and a requeue after success is routine again', async () => {
    const h = harness();
    const gates = new Map<string, Deferred>();
    h.behave((key, attempt) => {
      if (key.startsWith('block')) {
        const gate = deferred();
        gates.set(key, gate);
        return gate.promise.then(() => undefined);
      }
      if (key === 'x/urgent' && attempt === 1) return Promise.reject(transient());
      if (key === 'x/urgent' && attempt === 2) return Promise.resolve({ requeueAfterMs: 10_000 });
      return Promise.resolve(undefined);
    });
    h.begin();
    h.queue.add('x/urgent', 'urgent');
    await h.clock.advance(0); // attempt 1 fails: a retry within 500 ms
    h.queue.add('block/1', 'routine'); // holds the only worker
    await h.clock.advance(0);
    h.queue.add('y/1', 'user');
    await h.clock.advance(1000); // the retry is due while y/1 waits
    gates.get('block/1')?.resolve();
    await h.clock.advance(0);
    // The retry kept its level: it runs before the user key that waited longer.
    expect(h.keys()).toEqual(['x/urgent', 'block/1', 'x/urgent', 'y/1']);

    // Its requeue (10 s later) is routine: a user key ready at the same time goes first.
    h.queue.add('block/2', 'routine');
    await h.clock.advance(0);
    await h.clock.advance(10_000);
    h.queue.add('z/1', 'user');
    gates.get('block/2')?.resolve();
    await h.clock.advance(0);
    expect(h.keys().slice(-3)).toEqual(['block/2', 'z/1', 'x/urgent']);
  });
});
