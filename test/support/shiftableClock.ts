/**
 * The wall clock plus an offset a test moves forward: `advance(ms)` makes `ms` pass for the
 * controller at once, while it keeps running against the real servers. Timers are due in shifted
 * time and re-armed on every advance, so a requeue that falls due within the step fires right
 * after it, as it would had the time really passed (AcceleratedClock.jump, by contrast, models
 * downtime and leaves timers alone). Anything that compares times must use this clock too.
 */
import type { Clock } from '../../src/ports.ts';
import { MAX_TIMER_DELAY_MS } from '../../src/util/clock.ts';

interface Timer {
  dueAt: number;
  fn: () => void;
  handle: NodeJS.Timeout | undefined;
}

export class ShiftableClock implements Clock {
  private offsetMs = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.seq;
    const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    this.timers.set(id, { dueAt: this.now().getTime() + delay, fn, handle: undefined });
    this.arm(id);
    return () => {
      const timer = this.timers.get(id);
      if (timer?.handle !== undefined) clearTimeout(timer.handle);
      this.timers.delete(id);
    };
  }

  /** Moves time forward by `ms`; timers due by then fire on the next turns of the event loop. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): time only moves forward`);
    this.offsetMs += ms;
    for (const id of this.timers.keys()) this.arm(id);
  }

  private arm(id: number): void {
    const timer = this.timers.get(id);
    if (!timer) return;
    if (timer.handle !== undefined) clearTimeout(timer.handle);
    const remaining = timer.dueAt - this.now().getTime();
    timer.handle =
      remaining > MAX_TIMER_DELAY_MS
        ? setTimeout(() => {
            this.arm(id);
          }, MAX_TIMER_DELAY_MS)
        : setTimeout(
            () => {
              this.timers.delete(id);
              timer.fn();
            },
            Math.max(0, remaining),
          );
  }
}
