/**
 * The real Clock (src/ports.ts). Everything that waits or schedules takes a Clock so that unit
 * tests can drive time with the fake in test/support/fakeClock.ts instead of sleeping.
 */
import type { Clock } from '../ports.ts';

/**
 * The longest delay Node's setTimeout honours (2^31 - 1 ms, about 24.8 days); longer delays fire
 * at once with a warning. Rotations and signing-key rotations are often scheduled further out.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The wall clock. `setTimer` accepts any delay, including ones beyond Node's 24.8-day limit (it
 * waits in steps and fires once); a negative or NaN delay fires on the next turn of the event
 * loop. Timers keep the process alive, like setTimeout; cancel them on shutdown.
 */
export const systemClock: Clock = {
  now: () => new Date(),
  setTimer(fn: () => void, ms: number): () => void {
    const dueAt = Date.now() + (Number.isNaN(ms) ? 0 : Math.max(0, ms));
    let handle: NodeJS.Timeout | undefined;
    const arm = () => {
      const remaining = dueAt - Date.now();
      if (remaining > MAX_TIMER_DELAY_MS) {
        handle = setTimeout(arm, MAX_TIMER_DELAY_MS);
      } else {
        handle = setTimeout(
          () => {
            handle = undefined;
            fn();
          },
          Math.max(0, remaining),
        );
      }
    };
    arm();
    return () => {
      if (handle !== undefined) clearTimeout(handle);
      handle = undefined;
    };
  },
};
