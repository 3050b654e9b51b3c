/**
 * Client-side limits toward one API server, like client-go's QPS/Burst plus a bound on requests in
 * flight: @kubernetes/client-node has no rate limiting and node-vault none either, so every
 * adapter sends its requests through a RequestLimiter (src/ports.ts) made here.
 */
import type { Clock, RequestLimiter } from '../ports.ts';
import { systemClock } from './clock.ts';
import { currentRequestGroup } from './requestGroup.ts';

/** Limits for createRequestLimiter; every field is optional. */
export interface RequestLimiterOptions {
  /** Sustained requests per second (token refill rate). Default 50. `Infinity` disables it. */
  qps?: number;
  /** Requests that may start at once after a quiet period (bucket size). Default 100. */
  burst?: number;
  /** Requests in flight at most. Default 16. */
  maxConcurrent?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** A RequestLimiter that also reports its state for metrics. */
export interface MeteredRequestLimiter extends RequestLimiter {
  /** Requests waiting for a token or a free slot. */
  readonly waiting: number;
  /** Requests started and not yet settled. */
  readonly inFlight: number;
}

export const DEFAULT_QPS = 50;
export const DEFAULT_BURST = 100;
export const DEFAULT_MAX_CONCURRENT = 16;

/** Callers of one group waiting to start, oldest first (amortised O(1) dequeue). */
class Line {
  private items: (() => void)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(start: () => void): void {
    this.items.push(start);
  }

  shift(): (() => void) | undefined {
    const start = this.items[this.head];
    this.head += 1;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return start;
  }
}

/**
 * A token bucket (`qps`, `burst`) combined with a concurrency bound (`maxConcurrent`). Each request
 * takes one token and one slot. Waiting requests are grouped by the request group of their caller
 * (src/util/requestGroup.ts: the namespace a work queue is reconciling), the groups take turns,
 * and within a group requests start in the order run() was called: a namespace with a thousand
 * requests waiting delays another namespace's next request by one, not by a thousand, and a
 * stream of cheap calls cannot starve an earlier one. Waiting costs nothing: one timer for the
 * next token when the next in turn lacks one; otherwise the next settling request starts it.
 * A request's own failure is passed through unchanged. Throws RangeError for invalid limits.
 */
export function createRequestLimiter(options: RequestLimiterOptions = {}): MeteredRequestLimiter {
  const qps = options.qps ?? DEFAULT_QPS;
  const burst = options.burst ?? DEFAULT_BURST;
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  const clock = options.clock ?? systemClock;
  if (!(qps > 0)) throw new RangeError(`qps must be > 0, got ${qps}`);
  if (!Number.isInteger(burst) || burst < 1)
    throw new RangeError(`burst must be an integer >= 1, got ${burst}`);
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new RangeError(`maxConcurrent must be an integer >= 1, got ${maxConcurrent}`);
  }

  // The lines of groups with callers waiting, in turn order; `turn` indexes the next to start.
  const lines = new Map<string, Line>();
  const turns: string[] = [];
  let turn = 0;
  let waiting = 0;
  let tokens = burst;
  let refilledAt = clock.now().getTime();
  let inFlight = 0;
  let cancelTimer: (() => void) | undefined;

  const refill = () => {
    const now = clock.now().getTime();
    if (qps === Infinity) tokens = burst;
    else if (now > refilledAt) tokens = Math.min(burst, tokens + ((now - refilledAt) * qps) / 1000);
    refilledAt = now;
  };

  const takeNext = (): (() => void) | undefined => {
    turn %= turns.length;
    const group = turns[turn] as string;
    const line = lines.get(group) as Line;
    const start = line.shift();
    waiting -= 1;
    if (line.length === 0) {
      lines.delete(group);
      turns.splice(turn, 1); // the next group moves into this turn
    } else {
      turn += 1;
    }
    return start;
  };

  const pump = () => {
    while (waiting > 0 && inFlight < maxConcurrent) {
      refill();
      if (tokens < 1 - 1e-9) {
        cancelTimer ??= clock.setTimer(
          () => {
            cancelTimer = undefined;
            pump();
          },
          Math.ceil(((1 - tokens) * 1000) / qps),
        );
        return;
      }
      tokens = Math.max(0, tokens - 1);
      inFlight += 1;
      takeNext()?.();
    }
  };

  const enqueue = (start: () => void) => {
    const group = currentRequestGroup();
    let line = lines.get(group);
    if (!line) {
      line = new Line();
      lines.set(group, line);
      turns.push(group);
    }
    line.push(start);
    waiting += 1;
  };

  return {
    get waiting() {
      return waiting;
    },
    get inFlight() {
      return inFlight;
    },
    async run<T>(request: () => Promise<T>): Promise<T> {
      await new Promise<void>((resolve) => {
        enqueue(resolve);
        pump();
      });
      try {
        return await request();
      } finally {
        inFlight -= 1;
        pump();
      }
    },
  };
}

/**
 * One limiter per key (a Vault server's address), each with `options`: a slow or flooded server
 * spends only its own budget. Limiters with nothing waiting or in flight are dropped once more than
 * `maxIdle` keys are known, so a stream of distinct addresses cannot grow the map without bound.
 */
export function limiterPerKey(
  options: RequestLimiterOptions,
  maxIdle = 256,
): (key: string) => MeteredRequestLimiter {
  const limiters = new Map<string, MeteredRequestLimiter>();
  return (key) => {
    let limiter = limiters.get(key);
    if (!limiter) {
      if (limiters.size >= maxIdle) {
        for (const [other, l] of limiters) if (l.waiting === 0 && l.inFlight === 0) limiters.delete(other);
      }
      limiter = createRequestLimiter(options);
      limiters.set(key, limiter);
    }
    return limiter;
  };
}

/**
 * Token buckets by key that never queue: tryAcquire() takes a token now or says no (an HTTP
 * server answers 429 rather than holding the request). Buckets full again are dropped past
 * `maxKeys`, so a stream of distinct callers cannot grow the map without bound.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  private readonly maxKeys: number;

  constructor(options: { qps: number; burst: number; clock?: Clock; maxKeys?: number }) {
    this.qps = options.qps;
    this.burst = options.burst;
    this.clock = options.clock ?? systemClock;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  tryAcquire(key: string): boolean {
    const now = this.clock.now().getTime();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.dropFull(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.qps) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private dropFull(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * this.qps) / 1000 >= this.burst) this.buckets.delete(key);
    }
  }
}
