/**
 * What a person or the schedule asks of a policy and tokensmith has not done yet: the rotate and
 * revoke annotations (acted on once per value) and the schedule's due fire time (once per fire
 * time, plus the policy's jitter). Compared with what the Vault record says was handled.
 */
import { ANNOTATION } from '../api/constants.ts';
import type { PendingRequests, RevokeScope } from './plan.ts';
import type { PolicyTokenRecord } from './records.ts';
import { latestFireBetween, nextFireAfter, scheduleJitterMs } from './schedule.ts';
import type { PolicySettings } from './settings.ts';

export interface RequestInput {
  annotations: Record<string, string> | undefined;
  uid: string;
  createdAt: Date;
  settings: PolicySettings;
  record: PolicyTokenRecord | undefined;
  now: Date;
  jitterMaxMs: number;
}

export interface Requests {
  pending: PendingRequests;
  nextScheduledAt?: Date;
  /** A revoke annotation that cannot be understood, for a Warning. */
  invalidRevoke?: string;
}

const SCOPES: readonly RevokeScope[] = ['current', 'previous', 'all'];

/** `current`, `previous` or `all`, optionally followed by `:` and anything (to repeat a request). */
export function parseRevoke(value: string): RevokeScope | undefined {
  const scope = value.split(':')[0]?.trim() as RevokeScope;
  return SCOPES.includes(scope) ? scope : undefined;
}

export function pendingRequests(input: RequestInput): Requests {
  const handled = input.record?.handled ?? {};
  const pending: PendingRequests = {};
  const result: Requests = { pending };

  const rotate = input.annotations?.[ANNOTATION.rotate];
  if (rotate !== undefined && rotate !== '' && rotate !== handled.rotate) pending.rotate = rotate;

  const revoke = input.annotations?.[ANNOTATION.revoke];
  if (revoke !== undefined && revoke !== '' && revoke !== handled.revoke) {
    const scope = parseRevoke(revoke);
    if (scope) pending.revoke = { value: revoke, scope };
    else result.invalidRevoke = revoke;
  }

  const schedule = input.settings.schedule;
  if (schedule) {
    const jitter = scheduleJitterMs(input.uid, input.jitterMaxMs);
    // Fire times are counted from the last one handled, else from when the policy was created.
    const base = handled.schedule ? new Date(handled.schedule) : input.createdAt;
    const due = latestFireBetween(schedule, base, new Date(input.now.getTime() - jitter));
    if (due) pending.scheduledAt = due.toISOString();
    const next = nextFireAfter(schedule, due ?? base);
    result.nextScheduledAt = new Date(next.getTime() + jitter);
  }
  return result;
}
