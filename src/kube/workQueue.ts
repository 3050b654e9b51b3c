/**
 * The work queue behind every controller: client-go's workqueue (de-duplication, never one key
 * twice at once, re-run when dirtied during processing, per-key rate-limited retries) merged with
 * controller-runtime's reconcile contract (error → retry with backoff, terminal error → no retry,
 * `requeueAfterMs` → scheduled work) and its priority queue's rule that a key waits in one place
 * only, with the earliest due time asked for. Scheduled keys live in one heap behind one timer, so
 * thousands of policies waiting for their rotation cost one timer, not thousands.
 */
import { isTokensmithError, safeErrorFields } from '../errors.ts';

import { backoffDelay } from '../util/backoff.ts';
import { systemClock } from '../util/clock.ts';
import { DueHeap } from '../util/dueHeap.ts';
import { withRequestGroup } from '../util/requestGroup.ts';
import { silentLogger } from '../util/logger.ts';

export type {
  Priority,
  ReconcileHandler,
  ReconcileResult,
  StartOptions,
  WorkQueue,
  WorkQueueOptions,
} from './workQueueTypes.ts';
import type {
  Priority,
  ReconcileHandler,
  ReconcileResult,
  WorkQueue,
  WorkQueueOptions,
} from './workQueueTypes.ts';

/** Creates a work queue; see WorkQueue for the contract. */
/** Priority levels: revocations first, then what someone just asked for, then scheduled work. */
const LEVEL: Record<Priority, number> = { urgent: 0, user: 1, routine: 2 };

export function createWorkQueue(options: WorkQueueOptions = {}): WorkQueue {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const logger = options.logger ?? silentLogger;

  const ready = new Map<string, number>(); // due now, with the priority level it waits at
  const groupOf = options.groupOf ?? (() => '');
  // Per priority level (0 = urgent, 1 = user, 2 = routine): groups with ready keys, in turn order;
  // each group keeps its own FIFO order.
  const readyByLevel = [0, 1, 2].map(() => new Map<string, Set<string>>());
  /** The most urgent level each key was asked for (kept across a retry and a requeue). */
  const levelOf = new Map<string, number>();
  const inFlightByGroup = new Map<string, number>();
  /** When each ready key became ready (for onTaken). */
  const readyAt = new Map<string, number>();
  const waiting = new DueHeap(); // due later
  const processing = new Set<string>();
  const dirty = new Map<string, number>(); // processing keys asked for again: earliest due time
  const failures = new Map<string, number>(); // consecutive failures per key
  let retries = 0;
  let handler: ReconcileHandler | undefined;
  let concurrency = 1;
  let stopped = false;
  let timer: { dueAt: number; cancel: () => void } | undefined;
  const idle: (() => void)[] = [];

  const now = () => clock.now().getTime();

  const schedule = (key: string, dueAt: number, level = LEVEL.routine) => {
    if (stopped) return;
    const was = ready.get(key);
    if (was !== undefined) {
      if (dueAt <= now() && level < was) promote(key, was, level);
      return;
    }
    if (dueAt <= now() || processing.has(key)) levelOf.set(key, Math.min(levelOf.get(key) ?? level, level));
    if (processing.has(key)) {
      dirty.set(key, Math.min(dirty.get(key) ?? Infinity, dueAt));
      return;
    }
    if (dueAt <= now()) {
      waiting.delete(key);
      makeReady(key);
      dispatch();
      return;
    }
    const current = waiting.dueAt(key);
    if (current !== undefined && current <= dueAt) return;
    waiting.set(key, dueAt);
    arm();
  };

  // One timer, for the earliest waiting key. A timer already set for earlier is kept: when it
  // fires it promotes what is due and re-arms for the next.
  const arm = () => {
    const next = waiting.peek();
    if (!next) {
      timer?.cancel();
      timer = undefined;
      return;
    }
    if (timer && timer.dueAt <= next.dueAt) return;
    timer?.cancel();
    const dueAt = next.dueAt;
    timer = {
      dueAt,
      cancel: clock.setTimer(() => {
        timer = undefined;
        promoteDue();
        arm();
        dispatch();
      }, dueAt - now()),
    };
  };

  const promoteDue = () => {
    const t = now();
    for (let next = waiting.peek(); next && next.dueAt <= t; next = waiting.peek()) {
      waiting.pop();
      makeReady(next.key);
    }
  };

  const makeReady = (key: string) => {
    if (ready.has(key)) return;
    const level = levelOf.get(key) ?? LEVEL.routine;
    ready.set(key, level);
    readyAt.set(key, now());
    enlist(key, level);
  };

  const enlist = (key: string, level: number) => {
    const byGroup = readyByLevel[level] ?? new Map<string, Set<string>>();
    const group = groupOf(key);
    let keys = byGroup.get(group);
    if (!keys) {
      keys = new Set();
      byGroup.set(group, keys);
    }
    keys.add(key);
  };

  /** A ready key asked for more urgently: it moves up to that level (keeping its wait time). */
  const promote = (key: string, from: number, to: number) => {
    const byGroup = readyByLevel[from];
    const group = groupOf(key);
    const keys = byGroup?.get(group);
    keys?.delete(key);
    if (keys?.size === 0) byGroup?.delete(group);
    ready.set(key, to);
    levelOf.set(key, to);
    enlist(key, to);
    dispatch();
  };

  // Takes the next key: groups in turn; a group at its cap is passed over while a group below
  // its cap has keys ready (and served anyway when none has: no worker idles with work waiting).
  // The most urgent level first; within a level, groups in turn as described above.
  const takeNext = (): string | undefined => {
    const cap = options.maxInFlightPerGroup ?? concurrency;
    let fallback: { level: number; group: string } | undefined;
    for (const [level, byGroup] of readyByLevel.entries()) {
      for (const [group, keys] of byGroup) {
        if ((inFlightByGroup.get(group) ?? 0) >= cap) {
          fallback ??= { level, group };
          continue;
        }
        return takeFrom(byGroup, group, keys);
      }
    }
    if (!fallback) return undefined;
    const byGroup = readyByLevel[fallback.level];
    const keys = byGroup?.get(fallback.group);
    return byGroup && keys ? takeFrom(byGroup, fallback.group, keys) : undefined;
  };

  const takeFrom = (
    byGroup: Map<string, Set<string>>,
    group: string,
    keys: Set<string>,
  ): string | undefined => {
    const key = keys.values().next();
    if (key.done) return undefined;
    keys.delete(key.value);
    byGroup.delete(group);
    if (keys.size > 0) byGroup.set(group, keys); // to the back of the turn order
    ready.delete(key.value);
    const since = readyAt.get(key.value);
    readyAt.delete(key.value);
    if (since !== undefined) options.onTaken?.(now() - since);
    return key.value;
  };

  const dispatch = () => {
    if (!handler || stopped) return;
    promoteDue();
    while (processing.size < concurrency) {
      const key = takeNext();
      if (key === undefined) return;
      processing.add(key);
      const group = groupOf(key);
      inFlightByGroup.set(group, (inFlightByGroup.get(group) ?? 0) + 1);
      void process(handler, key);
    }
  };

  const process = async (run: ReconcileHandler, key: string) => {
    let result: ReconcileResult | undefined;
    let error: unknown;
    let failed = false;
    try {
      await Promise.resolve(); // never run a handler inside the add() that made the key ready
      const value: unknown = await withRequestGroup(groupOf(key), () => run(key));
      if (typeof value === 'object' && value !== null) result = value;
    } catch (err) {
      error = err;
      failed = true;
    }
    finish(key, failed, error, result);
  };

  const finish = (key: string, failed: boolean, error: unknown, result: ReconcileResult | undefined) => {
    processing.delete(key);
    const group = groupOf(key);
    const inFlight = (inFlightByGroup.get(group) ?? 1) - 1;
    if (inFlight > 0) inFlightByGroup.set(group, inFlight);
    else inFlightByGroup.delete(group);
    let next = dirty.get(key);
    dirty.delete(key);
    if (stopped) {
      if (processing.size === 0) for (const resolve of idle.splice(0)) resolve();
      return;
    }
    const requeueAfterMs = result?.requeueAfterMs;
    if (!failed && requeueAfterMs !== undefined && !Number.isFinite(requeueAfterMs)) {
      failed = true;
      error = new RangeError(`the handler asked for an invalid requeueAfterMs (${requeueAfterMs})`);
    }
    if (!failed) {
      failures.delete(key);
      // Done at the level it was asked for; what comes next (a requeue) is routine, unless it was
      // asked for again meanwhile.
      if (next === undefined) levelOf.delete(key);
      if (requeueAfterMs !== undefined)
        next = Math.min(next ?? Infinity, now() + Math.max(0, requeueAfterMs));
    } else if (isTokensmithError(error) && !error.retryable) {
      failures.delete(key);
      logger.warn(
        { key, err: safeErrorFields(error) },
        'reconcile failed; not retrying until the key changes',
      );
    } else {
      const attempt = (failures.get(key) ?? 0) + 1;
      failures.set(key, attempt);
      retries += 1;
      const retryInMs = backoffDelay(attempt, options.backoff, random);
      next = Math.min(next ?? Infinity, now() + retryInMs);
      logger.warn({ key, attempt, retryInMs, err: safeErrorFields(error) }, 'reconcile failed; retrying');
    }
    if (next !== undefined) schedule(key, next, levelOf.get(key) ?? LEVEL.routine);
    else levelOf.delete(key);
    dispatch();
  };

  const checkKey = (key: string) => {
    if (typeof key !== 'string' || key === '')
      throw new TypeError('work queue keys must be non-empty strings');
  };

  return {
    add(key, priority = 'user') {
      checkKey(key);
      schedule(key, now(), LEVEL[priority]);
    },
    addAfter(key, ms) {
      checkKey(key);
      if (!Number.isFinite(ms)) throw new RangeError(`addAfter: delay must be finite, got ${ms}`);
      schedule(key, now() + Math.max(0, ms));
    },
    addAt(key, at) {
      checkKey(key);
      const t = at.getTime();
      if (!Number.isFinite(t)) throw new RangeError('addAt: invalid date');
      schedule(key, t);
    },
    retryFailed() {
      let woken = 0;
      for (const key of failures.keys()) {
        if (waiting.dueAt(key) === undefined) continue; // ready already, or in flight
        schedule(key, now(), levelOf.get(key) ?? LEVEL.routine);
        woken++;
      }
      return woken;
    },
    start(run, startOptions = {}) {
      if (handler) throw new Error('the work queue is already started');
      const n = startOptions.concurrency ?? 1;
      if (!Number.isInteger(n) || n < 1)
        throw new RangeError(`concurrency must be an integer >= 1, got ${n}`);
      handler = run;
      concurrency = n;
      dispatch();
    },
    shutdown() {
      if (!stopped) {
        stopped = true;
        timer?.cancel();
        timer = undefined;
        ready.clear();
        readyAt.clear();
        for (const byGroup of readyByLevel) byGroup.clear();
        levelOf.clear();
        waiting.clear();
        dirty.clear();
      }
      if (processing.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
    get depth() {
      return ready.size;
    },
    get scheduled() {
      return waiting.size;
    },
    get inFlight() {
      return processing.size;
    },
    get retries() {
      return retries;
    },
  };
}
