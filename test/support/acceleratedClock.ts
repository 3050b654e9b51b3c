/**
 * A clock that runs `factor` times faster than real time, from now on: lets integration tests
 * drive hour-scale lifecycles (TTLs, overlaps, schedules) in seconds, against real servers.
 * Anything that compares times must use the same clock (the reconciler, and the test's checks).
 */
import type { Clock } from '../../src/ports.ts';

export class AcceleratedClock implements Clock {
  readonly factor: number;
  private readonly realStart = Date.now();
  private offsetMs = 0;

  constructor(factor: number) {
    this.factor = factor;
  }

  now(): Date {
    return new Date(this.realStart + (Date.now() - this.realStart) * this.factor + this.offsetMs);
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = setTimeout(fn, Math.max(0, ms / this.factor));
    return () => {
      clearTimeout(timer);
    };
  }

  /** Jumps ahead, as if the process had been down for `ms`. */
  jump(ms: number): void {
    this.offsetMs += ms;
  }
}
