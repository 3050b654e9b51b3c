/**
 * Client-side limits toward one API server, like client-go's QPS/Burst plus a bound on requests in
 * flight: @kubernetes/client-node has no rate limiting and node-vault none either, so every
 * adapter sends its requests through a RequestLimiter (src/ports.ts) made here.
 */
import type { Clock, RequestLimiter } from '../ports.ts';
import { systemClock } from './clock.ts';

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

/**
 * A token bucket (`qps`, `burst`) combined with a concurrency bound (`maxConcurrent`). Requests
 * start strictly in the order run() was called (FIFO, so a stream of cheap calls cannot starve an
 * earlier one), each taking one token and one slot. Waiting costs nothing: one timer for the next
 * token when the head of the line lacks one; otherwise the next settling request starts it.
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

  // Callers waiting to start, oldest first; `head` indexes the oldest (amortised O(1) dequeue).
  let waiters: (() => void)[] = [];
  let head = 0;
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

  const pump = () => {
    while (head < waiters.length && inFlight < maxConcurrent) {
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
      const start = waiters[head] as () => void;
      head += 1;
      if (head === waiters.length) {
        waiters = [];
        head = 0;
      } else if (head >= 1024 && head * 2 >= waiters.length) {
        waiters = waiters.slice(head);
        head = 0;
      }
      start();
    }
  };

  return {
    get waiting() {
      return waiters.length - head;
    },
    get inFlight() {
      return inFlight;
    },
    async run<T>(request: () => Promise<T>): Promise<T> {
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
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
