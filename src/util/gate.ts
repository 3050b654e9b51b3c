/**
 * A one-time gate: waiters resolve when it opens, reject when it is closed for good or when their
 * own timeout passes first. The informer's "synced" is one.
 */
import type { Clock } from '../ports.ts';

export class Gate {
  private opened = false;
  private readonly waiters = new Set<{ resolve: () => void; reject: (err: Error) => void }>();
  private readonly clock: Clock;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /** Opens the gate (once); every waiter resolves. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
  }

  /** Rejects every waiter with `err`; the gate may still open later for new waiters. */
  rejectAll(err: Error): void {
    for (const waiter of this.waiters) waiter.reject(err);
    this.waiters.clear();
  }

  /** Resolves once open; rejects with `onTimeout()` after `timeoutMs` (default: never). */
  wait(timeoutMs: number | undefined, onTimeout: () => Error): Promise<void> {
    if (this.opened) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let cancelTimeout: (() => void) | undefined;
      const waiter = {
        resolve: () => {
          cancelTimeout?.();
          resolve();
        },
        reject: (err: Error) => {
          cancelTimeout?.();
          reject(err);
        },
      };
      this.waiters.add(waiter);
      if (timeoutMs !== undefined) {
        cancelTimeout = this.clock.setTimer(() => {
          this.waiters.delete(waiter);
          reject(onTimeout());
        }, timeoutMs);
      }
    });
  }
}
