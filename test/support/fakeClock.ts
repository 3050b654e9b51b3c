/**
 * A Clock for unit tests: time stands still until the test advances it, and advancing fires the
 * timers that fall due in time order, letting the promise work each one starts settle before the
 * next fires, so code that schedules further timers behaves as it would with real time.
 */
import type { Clock } from '../../src/ports.ts';

interface PendingTimer {
  dueAt: number;
  seq: number;
  fn: () => void;
}

/** Lets every queued promise continuation run (microtasks drain before the next macrotask). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A fake Clock; starts at 2026-01-01T00:00:00Z unless given a start. */
export class FakeClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private readonly timers = new Map<number, PendingTimer>();

  constructor(start: Date | string = '2026-01-01T00:00:00Z') {
    this.nowMs = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.nowMs);
  }

  setTimer(fn: () => void, ms: number): () => void {
    const seq = ++this.seq;
    const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    this.timers.set(seq, { dueAt: this.nowMs + delay, seq, fn });
    return () => {
      this.timers.delete(seq);
    };
  }

  /** Timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** When the next timer falls due, if any. */
  get nextTimerAt(): Date | undefined {
    const next = this.next();
    return next && new Date(next.dueAt);
  }

  /** Milliseconds since `start` (or since the clock's start time), for readable assertions. */
  elapsedSince(start: Date): number {
    return this.nowMs - start.getTime();
  }

  /**
   * Moves time forward by `ms`, firing every timer due by then (also those set by the timers
   * themselves) in due order, with the clock reading each timer's due time as it fires, and
   * letting promise work settle after each. `advance(0)` fires what is due now.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): time only moves forward`);
    const until = this.nowMs + ms;
    await settle();
    for (let next = this.next(); next && next.dueAt <= until; next = this.next()) {
      this.timers.delete(next.seq);
      this.nowMs = Math.max(this.nowMs, next.dueAt);
      next.fn();
      await settle();
    }
    this.nowMs = until;
    await settle();
  }

  /** Advances to the given instant (see advance). */
  advanceTo(instant: Date): Promise<void> {
    return this.advance(Math.max(0, instant.getTime() - this.nowMs));
  }

  private next(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.timers.values()) {
      if (!best || timer.dueAt < best.dueAt || (timer.dueAt === best.dueAt && timer.seq < best.seq)) {
        best = timer;
      }
    }
    return best;
  }
}
