/**
 * Capped exponential backoff with jitter, shared by the work queue (reconcile retries) and the
 * informer (restarts after a failed list or watch). Pure: the random source is injected so unit
 * tests can pin it.
 */

/** Backoff settings; the defaults suit reconcile retries. */
export interface BackoffOptions {
  /** Delay after the first failure. Default 500 ms. */
  baseMs?: number;
  /** No delay is longer than this. Default 5 minutes. */
  maxMs?: number;
  /**
   * Fraction of the delay taken off at random, so retries of many keys that failed together
   * spread out instead of arriving in lockstep. Default 0.2 (a delay lands in (0.8·d, d]).
   */
  jitter?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 5 * 60_000, jitter: 0.2 } as const;

/**
 * The delay before retrying after `failures` consecutive failures (1 for the first):
 * d = min(maxMs, baseMs · 2^(failures-1)), then reduced by up to `jitter`·d. `random` returns a
 * number in [0, 1) like Math.random. The cap is a true upper bound; the floor is (1-jitter)·d.
 */
export function backoffDelay(failures: number, options: BackoffOptions = {}, random = Math.random): number {
  const baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? DEFAULT_BACKOFF.jitter));
  // 2^(n-1) overflows to Infinity for large n, which min() caps; clamp n so it never goes negative.
  const exponent = Math.max(0, Math.floor(failures) - 1);
  const delay = Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 1024));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(delay * (1 - jitter * r));
}
