/**
 * Cron schedules for token rotation, as pure time arithmetic (no timers): the `cron` package's
 * CronTime computes fire times in the policy's time zone. Schedules are durable: the reconciler
 * keeps the last fire time it acted on in Vault, and asks here for the next one after it, so a
 * due time is acted on once, and after downtime the missed ones collapse into one rotation.
 */
import { CronTime } from 'cron';
import { createHash } from 'node:crypto';
import { formatDuration } from './duration.ts';

export interface Schedule {
  expression: string;
  /** IANA zone; default UTC. */
  timeZone?: string;
}

/** Fire times sampled to find how often a schedule fires (60 covers a day of an hourly one). */
const SAMPLED_FIRES = 60;
/** Where the sampling starts; a fixed instant keeps the answer the same on every call. */
const SAMPLE_FROM = new Date('2026-01-01T00:00:00Z');

/** Verdicts of scheduleProblem by schedule and interval (a cluster has few distinct schedules). */
const verdicts = new Map<string, string | null>();
const MAX_VERDICTS = 1024;

/**
 * Why a schedule cannot be used, for a Ready=False message; undefined when it is fine. Refused:
 * what the cron library cannot parse, a schedule that never fires (`0 0 30 2 *`), and one whose
 * fire times come closer together than `minIntervalMs` (among its first fire times). A pure
 * function of its arguments, remembered: sampling 60 fire times costs milliseconds, and every
 * reconcile of a scheduled policy asks (it was a quarter of the CPU of a 1,000-policy wave).
 */
export function scheduleProblem(schedule: Schedule, minIntervalMs = 0): string | undefined {
  const key = JSON.stringify([schedule.expression, schedule.timeZone ?? 'UTC', minIntervalMs]);
  const known = verdicts.get(key);
  if (known !== undefined) return known ?? undefined;
  const verdict = computeScheduleProblem(schedule, minIntervalMs);
  if (verdicts.size >= MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value ?? '');
  verdicts.set(key, verdict ?? null);
  return verdict;
}

function computeScheduleProblem(schedule: Schedule, minIntervalMs: number): string | undefined {
  const what = `rotation.schedule "${schedule.expression}" with timeZone "${schedule.timeZone ?? 'UTC'}"`;
  let time: CronTime;
  try {
    time = cronTime(schedule);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return `${what} cannot be used: ${detail}`;
  }
  const zone = schedule.timeZone ?? 'UTC';
  let previous: Date;
  try {
    previous = time.getNextDateFrom(SAMPLE_FROM, zone).toJSDate();
  } catch {
    return `${what} never fires: no date matches it (such as February 30)`;
  }
  for (let i = 1; i < SAMPLED_FIRES && minIntervalMs > 0; i++) {
    let next: Date;
    try {
      next = time.getNextDateFrom(previous, zone).toJSDate();
    } catch {
      // The cron library searches no further than 8 years past the present: a yearly schedule
      // runs out of fire times to sample there. The gaps seen so far are the answer.
      break;
    }
    const gap = next.getTime() - previous.getTime();
    if (gap < minIntervalMs) {
      return (
        `${what} fires ${formatDuration(gap)} apart, more often than the minimum rotation interval ` +
        `${formatDuration(minIntervalMs)} (tokensmith's --min-rotation-interval)`
      );
    }
    previous = next;
  }
  return undefined;
}

/** Parsed schedules (a CronTime is not changed by computing fire times from it). */
const parsed = new Map<string, CronTime>();

function cronTime(schedule: Schedule): CronTime {
  const key = `${schedule.timeZone ?? 'UTC'} ${schedule.expression}`;
  let time = parsed.get(key);
  if (!time) {
    time = new CronTime(schedule.expression, schedule.timeZone ?? 'UTC'); // throws when invalid
    if (parsed.size >= MAX_VERDICTS) parsed.delete(parsed.keys().next().value ?? '');
    parsed.set(key, time);
  }
  return time;
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
