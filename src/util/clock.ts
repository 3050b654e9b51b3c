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

/**
 * A clock that runs `factor` times faster than the wall clock, counted from the wall-clock instant
 * `originMs`: for soak tests of the controller as a process (TOKENSMITH_TEST_CLOCK, never in
 * production). Every process given the same origin and factor lives on one timeline, so a
 * restarted controller carries on where the killed one was. Timers wait `ms / factor`.
 */
export function acceleratedClock(originMs: number, factor: number): Clock {
  return {
    now: () => new Date(originMs + (Date.now() - originMs) * factor),
    setTimer: (fn, ms) => systemClock.setTimer(fn, (Number.isNaN(ms) ? 0 : ms) / factor),
  };
}

/**
 * The clock TOKENSMITH_TEST_CLOCK (`<origin ms>:<factor>`) asks for, or the wall clock when it is
 * unset. Throws on a malformed value, so a typo cannot silently run a controller on real time.
 */
export function clockFromEnv(value: string | undefined): { clock: Clock; factor: number } {
  if (value === undefined || value === '') return { clock: systemClock, factor: 1 };
  const match = /^(\d{10,16}):(\d+(?:\.\d+)?)$/.exec(value);
  const origin = Number(match?.[1]);
  const factor = Number(match?.[2]);
  if (!match || !(factor >= 1 && factor <= 10_000)) {
    throw new Error(
      `TOKENSMITH_TEST_CLOCK must be <origin in ms since the epoch>:<factor from 1 to 10000>, e.g. 1767225600000:60 (got "${value}")`,
    );
  }
  return { clock: acceleratedClock(origin, factor), factor };
}
