import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  latestFireBetween,
  nextFireAfter,
  scheduleJitterMs,
  scheduleProblem,
} from '../../../src/core/schedule.ts';

const iso = (d: Date | undefined) => d?.toISOString();

// The process runs in another zone than the schedules, so zone mix-ups show (the cron package
// computes in the process zone unless told otherwise).
const originalTz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'Asia/Tokyo';
});
afterAll(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

describe('rotation schedules', () => {
  it('computes in the schedule time zone, not the process one', () => {
    expect(new Date('2026-01-01T00:00:00Z').getHours()).toBe(9); // Tokyo, UTC+9
    // 03:00 in Berlin is 01:00Z in summer and 02:00Z in winter.
    const schedule = { expression: '0 3 * * *', timeZone: 'Europe/Berlin' };
    expect(iso(nextFireAfter(schedule, new Date('2026-03-28T12:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    expect(iso(nextFireAfter(schedule, new Date('2026-01-10T12:00:00Z')))).toBe('2026-01-11T02:00:00.000Z');
    expect(iso(nextFireAfter({ expression: '0 3 * * *' }, new Date('2026-01-10T12:00:00Z')))).toBe(
      '2026-01-11T03:00:00.000Z',
    );
  });

  it('fires once in a spring-forward gap and once in an autumn overlap', () => {
    const schedule = { expression: '30 2 * * *', timeZone: 'Europe/Berlin' };
    // 2026-03-29: 02:00 → 03:00 local. 02:30 does not exist; it fires at 03:00 local (01:00Z).
    expect(iso(nextFireAfter(schedule, new Date('2026-03-29T00:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    // 2026-10-25: 03:00 → 02:00 local. 02:30 happens twice; it fires once.
    const first = nextFireAfter(schedule, new Date('2026-10-24T23:00:00Z'));
    const second = nextFireAfter(schedule, first);
    expect(iso(first)?.startsWith('2026-10-25T0')).toBe(true);
    expect(second.getTime() - first.getTime()).toBeGreaterThan(20 * 3600_000);
  });

  it('collapses missed fire times into the latest one', () => {
    const hourly = { expression: '0 * * * *' };
    const down = new Date('2026-06-01T10:30:00Z');
    const up = new Date('2026-06-01T15:10:00Z');
    expect(iso(latestFireBetween(hourly, down, up))).toBe('2026-06-01T15:00:00.000Z');
    expect(latestFireBetween(hourly, new Date('2026-06-01T15:00:00Z'), up)).toBeUndefined();
    // A fire time exactly at `now` is due; one exactly at `after` was handled already.
    expect(iso(latestFireBetween(hourly, down, new Date('2026-06-01T11:00:00Z')))).toBe(
      '2026-06-01T11:00:00.000Z',
    );
  });

  it('supports six fields (seconds)', () => {
    expect(iso(nextFireAfter({ expression: '*/10 * * * * *' }, new Date('2026-06-01T10:00:01Z')))).toBe(
      '2026-06-01T10:00:10.000Z',
    );
  });

  it('explains a schedule it cannot use', () => {
    expect(scheduleProblem({ expression: '0 3 * * *', timeZone: 'Europe/Berlin' })).toBeUndefined();
    expect(scheduleProblem({ expression: '0 3 * * *', timeZone: 'Mars/Olympus' })).toMatch(
      /^rotation.schedule "0 3 \* \* \*" with timeZone "Mars\/Olympus" cannot be used: /,
    );
    expect(scheduleProblem({ expression: '61 3 * * *' })).toMatch(/cannot be used/);
  });

  it('accepts a yearly schedule (found by the generated-specs property test)', () => {
    // Sampling 60 fire times of a yearly schedule runs past the 8 years the cron library searches.
    for (const expression of ['0 0 1 1 *', '@yearly'])
      expect(scheduleProblem({ expression }, 60_000), expression).toBeUndefined();
    expect(nextFireAfter({ expression: '@yearly' }, new Date('2026-06-01T00:00:00Z')).toISOString()).toBe(
      '2027-01-01T00:00:00.000Z',
    );
  });

  it('spreads policies deterministically within the jitter window', () => {
    const delays = Array.from({ length: 1000 }, (_, i) => scheduleJitterMs(`uid-${i}`, 30_000));
    expect(delays.every((d) => d >= 0 && d < 30_000)).toBe(true);
    expect(new Set(delays.map((d) => Math.floor(d / 3000))).size).toBe(10); // every tenth of the window used
    expect(scheduleJitterMs('uid-1', 30_000)).toBe(delays[1]);
    expect(scheduleJitterMs('uid-1', 0)).toBe(0);
  });
});

describe('catching up after long downtime', () => {
  it('finds the latest fire time without stepping through every missed one', () => {
    const perSecond = { expression: '* * * * * *' };
    const due = latestFireBetween(
      perSecond,
      new Date('2026-01-01T00:00:00Z'),
      new Date('2026-04-11T12:34:56.500Z'),
    );
    expect(due?.toISOString()).toBe('2026-04-11T12:34:56.000Z');
    // (Stepping forward through 8.6 million missed fire times gave up early and returned a stale
    // time, which the next reconcile would have acted on again.)
    const yearly = { expression: '0 0 1 1 *' };
    expect(
      iso(latestFireBetween(yearly, new Date('2020-06-01T00:00:00Z'), new Date('2026-06-01T00:00:00Z'))),
    ).toBe('2026-01-01T00:00:00.000Z');
    expect(
      latestFireBetween(yearly, new Date('2026-02-01T00:00:00Z'), new Date('2026-06-01T00:00:00Z')),
    ).toBeUndefined();
  });
});

describe('scheduleProblem', () => {
  const MINUTE = 60_000;
  it.each<[string, string | undefined, number]>([
    ['0 3 * * *', 'Europe/Berlin', MINUTE],
    ['*/5 * * * *', undefined, MINUTE],
    ['0 * * * * *', undefined, MINUTE], // 6 fields, once a minute
    ['* * * * * *', undefined, 0], // no minimum: allowed
  ])('accepts %s (%s, minimum %d ms)', (expression, timeZone, minIntervalMs) => {
    expect(scheduleProblem({ expression, ...(timeZone ? { timeZone } : {}) }, minIntervalMs)).toBeUndefined();
  });

  it.each<[string, number, RegExp]>([
    ['0 0 30 2 *', MINUTE, /never fires: no date matches it \(such as February 30\)/],
    ['0 0 31 4 *', 0, /never fires/],
    ['* * * * * *', MINUTE, /fires 1s apart, more often than the minimum rotation interval 1m/],
    ['*/30 * * * * *', MINUTE, /fires 30s apart/],
    ['0,1 0 * * *', 5 * MINUTE, /fires 1m apart, more often than the minimum rotation interval 5m/],
    ['not a schedule', MINUTE, /cannot be used/],
  ])('refuses %s (minimum %d ms)', (expression, minIntervalMs, problem) => {
    expect(scheduleProblem({ expression }, minIntervalMs)).toMatch(problem);
  });
});
