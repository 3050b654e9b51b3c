/** The options and the interface of the work queues created by workQueue.ts. */
import type { Clock } from '../ports.ts';
import type { BackoffOptions } from '../util/backoff.ts';
import type { WarnLogger } from '../util/logger.ts';

/** What a reconcile asks of the queue when it succeeds. */
export interface ReconcileResult {
  /** Process the key again after this long (0: as soon as possible). */
  requeueAfterMs?: number;
}

/**
 * Reconciles one key; level-based and idempotent. Resolve to succeed (optionally asking for a
 * requeue); throw to be retried with backoff; throw a TokensmithError whose `retryable` is false
 * to stop retrying until the key is added again.
 */
export type ReconcileHandler = (key: string) => Promise<ReconcileResult | undefined> | Promise<void>;

/** Options of createWorkQueue; every field is optional. */
export interface WorkQueueOptions {
  /** Default: the system clock. */
  clock?: Clock;
  /** Source of jitter, in [0, 1). Default Math.random. */
  random?: () => number;
  /** Retry backoff per key. Defaults: base 500 ms, cap 5 min, jitter 0.2 (see backoffDelay). */
  backoff?: BackoffOptions;
  /** Told about each failed reconcile (key, attempt, retry delay, safe error fields). Default: silent. */
  logger?: WarnLogger;
  /**
   * The group a key belongs to (e.g. its namespace). Ready keys are taken from the groups in turn,
   * and while keys of other groups are waiting, no group has more than `maxInFlightPerGroup` keys
   * in flight: one tenant's burst, or its slow Vault, cannot take every worker from the others.
   * The handler runs inside the key's group (src/util/requestGroup.ts), so request limiters let the
   * groups take turns too. Default: one group (plain FIFO).
   */
  groupOf?: (key: string) => string;
  /** Keys of one group in flight at most while other groups wait. Default: the concurrency. */
  maxInFlightPerGroup?: number;
  /** Told how long each key waited, from due to taken by a worker (for the latency metric). */
  onTaken?: (waitedMs: number) => void;
}

/** Options of start(). */
export interface StartOptions {
  /** Keys processed at once at most. Default 1 (like controller-runtime's MaxConcurrentReconciles). */
  concurrency?: number;
}

/**
 * How urgent a key is. Ready keys are taken most urgent first: `urgent` (a revocation), then
 * `user` (something someone just asked for: a new policy, a rotate request, a spec edit), then
 * `routine` (scheduled work, requeues, resyncs). A key keeps the most urgent level it was asked
 * for until it is processed successfully, also across retries.
 */
export type Priority = 'urgent' | 'user' | 'routine';

/** A de-duplicating, scheduling work queue of string keys (usually `namespace/name`). */
export interface WorkQueue {
  /** Process the key as soon as possible (once, however often it is added); default `user`. */
  add(key: string, priority?: Priority): void;
  /** Process the key in `ms` milliseconds (at `routine`), unless it is already due earlier. */
  addAfter(key: string, ms: number): void;
  /** Process the key at `at`, unless it is already due earlier. */
  addAt(key: string, at: Date): void;
  /**
   * Makes every key waiting out a retry backoff due now (a server it failed on is back); it keeps
   * its failure count, so failing again backs off from where it was. Returns how many woke.
   */
  retryFailed(): number;
  /** Starts processing with `handler`. Keys added before start wait. Throws if started twice. */
  start(handler: ReconcileHandler, options?: StartOptions): void;
  /** Stops taking work (adds are ignored, scheduled keys dropped); resolves when in-flight handlers end. */
  shutdown(): Promise<void>;
  /** Keys due now and waiting for a free worker. */
  readonly depth: number;
  /** Keys waiting for a future due time (scheduled requeues, rotations, retries). */
  readonly scheduled: number;
  /** Keys being processed now. */
  readonly inFlight: number;
  /** Retries scheduled after failures since the queue was created (a counter). */
  readonly retries: number;
}
