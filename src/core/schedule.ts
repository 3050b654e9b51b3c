/**
 * Cron schedules for token rotation, as pure time arithmetic (no timers): the `cron` package's
 * CronTime computes fire times in the policy's time zone. Schedules are durable: the reconciler
 * keeps the last fire time it acted on in Vault, and asks here for the next one after it, so a
 * due time is acted on once, and after downtime the missed ones collapse into one rotation.
 */
import { CronTime } from 'cron';
import { createHash } from 'node:crypto';

export interface Schedule {
  expression: string;
  /** IANA zone; default UTC. */
  timeZone?: string;
}

/** Why a schedule cannot be used, for a Ready=False message; undefined when it is fine. */
export function scheduleProblem(schedule: Schedule): string | undefined {
  try {
    cronTime(schedule);
    return undefined;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return `rotation.schedule "${schedule.expression}" with timeZone "${schedule.timeZone ?? 'UTC'}" cannot be used: ${detail}`;
  }
}

function cronTime(schedule: Schedule): CronTime {
  return new CronTime(schedule.expression, schedule.timeZone ?? 'UTC');
}

/** The first fire time strictly after `after`. */
export function nextFireAfter(schedule: Schedule, after: Date): Date {
  // The zone must be passed again: getNextDateFrom otherwise computes in the process's zone.
  return cronTime(schedule)
    .getNextDateFrom(after, schedule.timeZone ?? 'UTC')
    .toJSDate();
}

/**
 * Windows searched, newest first, when catching up: the owed fire time is the latest one, so it is
 * found by looking back from `now` in widening windows instead of stepping forward through every
 * missed fire time (a per-second schedule after 100 days of downtime would be millions of steps).
 */
const LOOKBACK_MS = [60_000, 3_600_000, 86_400_000, 32 * 86_400_000, 366 * 86_400_000, 10 * 366 * 86_400_000];

/**
 * The latest fire time in (after, now], or undefined if none: the one rotation owed after
 * downtime, however many fire times were missed.
 */
export function latestFireBetween(schedule: Schedule, after: Date, now: Date): Date | undefined {
  const time = cronTime(schedule);
  const zone = schedule.timeZone ?? 'UTC';
  for (const window of LOOKBACK_MS) {
    const start = Math.max(after.getTime(), now.getTime() - window);
    let latest: Date | undefined;
    let cursor = new Date(start);
    // Within a window there are few fire times: at most window / interval, and the first window
    // with any is at most ~60 times wider than the interval.
    for (;;) {
      const next = time.getNextDateFrom(cursor, zone).toJSDate();
      if (next.getTime() > now.getTime()) break;
      latest = next;
      cursor = next;
    }
    if (latest) return latest;
    if (start === after.getTime()) return undefined; // the whole span (after, now] was searched
  }
  return undefined;
}

/**
 * A stable delay in [0, maxMs) for one policy, so that many policies sharing a schedule do not
 * all rotate in the same second; the same policy always gets the same delay.
 */
export function scheduleJitterMs(seed: string, maxMs: number): number {
  if (maxMs <= 0) return 0;
  const n = createHash('sha256').update(seed).digest().readUInt32BE(0);
  return n % Math.floor(maxMs);
}
