/**
 * The system clock's timers, including delays beyond Node's 24.8-day setTimeout limit (which Node
 * would otherwise fire at once). Vitest's fake timers stand in for time here; no module is mocked.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { clockFromEnv, MAX_TIMER_DELAY_MS, systemClock } from '../../../src/util/clock.ts';
import { FakeClock } from '../../support/fakeClock.ts';

describe('systemClock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads the current time', () => {
    expect(systemClock.now().toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it.each([
    { name: '1 second', ms: 1000 },
    { name: 'just under the setTimeout limit', ms: MAX_TIMER_DELAY_MS - 1 },
    { name: '30 days (beyond the limit)', ms: 30 * 24 * 3600_000 },
    { name: '100 days', ms: 100 * 24 * 3600_000 },
  ])('fires once, after $name and not before', ({ ms }) => {
    let fired = 0;
    systemClock.setTimer(() => (fired += 1), ms);
    vi.advanceTimersByTime(ms - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    vi.advanceTimersByTime(ms * 2);
    expect(fired).toBe(1);
  });

  it('cancels, also a long timer between its steps', () => {
    let fired = 0;
    const cancelShort = systemClock.setTimer(() => (fired += 1), 100);
    const cancelLong = systemClock.setTimer(() => (fired += 1), 60 * 24 * 3600_000);
    cancelShort();
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS + 10);
    cancelLong();
    vi.advanceTimersByTime(100 * 24 * 3600_000);
    expect(fired).toBe(0);
  });
});

describe('FakeClock', () => {
  it('fires due timers in time order, with now() at each due time, including timers they set', async () => {
    const clock = new FakeClock('2026-01-01T00:00:00Z');
    const fired: string[] = [];
    const at = () => clock.now().toISOString().slice(11, 23);
    clock.setTimer(() => fired.push(`b@${at()}`), 200);
    clock.setTimer(() => {
      fired.push(`a@${at()}`);
      clock.setTimer(() => fired.push(`c@${at()}`), 150); // due at 250, inside the window
    }, 100);
    const cancel = clock.setTimer(() => fired.push('never'), 250);
    cancel();
    clock.setTimer(() => fired.push(`d@${at()}`), 400);
    await clock.advance(300);
    expect(fired).toEqual(['a@00:00:00.100', 'b@00:00:00.200', 'c@00:00:00.250']);
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:00.300Z');
    expect(clock.pendingTimers).toBe(1);
    expect(clock.nextTimerAt?.toISOString()).toBe('2026-01-01T00:00:00.400Z');
  });

  it('refuses to go back in time', async () => {
    await expect(new FakeClock().advance(-1)).rejects.toThrow(RangeError);
  });
});

describe('TOKENSMITH_TEST_CLOCK', () => {
  it('is the wall clock when unset', () => {
    expect(clockFromEnv(undefined).factor).toBe(1);
    expect(clockFromEnv('').factor).toBe(1);
  });

  it('runs factor times faster from its origin, the same timeline in every process', () => {
    const origin = Date.now() - 1000;
    const { clock, factor } = clockFromEnv(`${origin}:60`);
    expect(factor).toBe(60);
    const elapsed = clock.now().getTime() - origin;
    expect(elapsed).toBeGreaterThanOrEqual(60_000);
    expect(elapsed).toBeLessThan(120_000);
  });

  it('refuses a malformed value with what it should look like', () => {
    for (const bad of ['60', 'now:60', `${Date.now()}:0`, `${Date.now()}:x`, `${Date.now()}:100000`])
      expect(() => clockFromEnv(bad), bad).toThrow(/<origin in ms since the epoch>:<factor from 1 to 10000>/);
  });
});
