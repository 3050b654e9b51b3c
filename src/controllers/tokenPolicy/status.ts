/** A TokenPolicy's status, computed from the Vault record and the outcome of a reconcile. */
import type { TokenPolicyStatus } from '../../api/v1alpha1.generated.ts';
import { setReady, type ReadyOutcome } from '../../core/conditions.ts';
import { activeVersion, renewalDueAt } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';

/** Reasons of the Ready condition: a closed set. */
export const READY_REASON = {
  issued: 'Issued',
  issuing: 'Issuing',
  deleting: 'Deleting',
} as const;

/** How many versions status.versions lists, newest first. */
const VERSIONS_SHOWN = 10;

export function policyStatus(options: {
  previous: TokenPolicyStatus | undefined;
  generation: number | undefined;
  now: Date;
  /** What Vault holds; 'unknown' when it could not be read (the previous status is kept). */
  record: PolicyTokenRecord | undefined | 'unknown';
  renewBeforeMs: number | undefined;
  /** When the rotation schedule fires next, if the policy has one. */
  nextScheduledAt?: Date | undefined;
  overlapMs?: number | undefined;
  outcome: ReadyOutcome;
}): TokenPolicyStatus {
  const { previous, now } = options;
  const conditions = setReady(previous?.conditions, options.outcome, now, options.generation);
  if (options.record === 'unknown') {
    return {
      ...previous,
      ...(options.generation === undefined ? {} : { observedGeneration: options.generation }),
      conditions,
    };
  }
  const record = options.record;
  const active = activeVersion(record);
  const status: TokenPolicyStatus = {
    ...(options.generation === undefined ? {} : { observedGeneration: options.generation }),
    conditions,
  };
  if (active) {
    status.currentVersion = active.version;
    status.fingerprint = active.fingerprint;
    status.issuedAt = active.issuedAt;
    status.expiresAt = active.expiresAt;
    if (active.publishedAt) status.lastRotationAt = active.publishedAt;
    // The earlier of renewal and the schedule's next fire time: whichever rotates first.
    const due = [
      ...(options.renewBeforeMs === undefined ? [] : [renewalDueAt(active, options.renewBeforeMs)]),
      ...(options.nextScheduledAt ? [options.nextScheduledAt] : []),
    ].sort((a, b) => a.getTime() - b.getTime())[0];
    if (due) status.nextRotationAt = due.toISOString();
  }
  const handled = record?.handled;
  if (handled?.rotate !== undefined || handled?.revoke !== undefined) {
    status.handledRequests = {
      ...(handled.rotate !== undefined ? { rotate: handled.rotate } : {}),
      ...(handled.revoke !== undefined ? { revoke: handled.revoke } : {}),
    };
  }
  if (record && record.versions.length > 0) {
    status.versions = [...record.versions]
      .sort((a, b) => b.version - a.version)
      .slice(0, VERSIONS_SHOWN)
      .map((v) => ({
        version: v.version,
        fingerprint: v.fingerprint,
        state: v.state,
        issuedAt: v.issuedAt,
        expiresAt: v.expiresAt,
        ...(v.kid ? { kid: v.kid } : {}),
        ...(v.retiringSince && v.state === 'retiring' && options.overlapMs !== undefined
          ? { retireAt: new Date(Date.parse(v.retiringSince) + options.overlapMs).toISOString() }
          : {}),
        ...(v.revokedAt ? { revokedAt: v.revokedAt } : {}),
        ...(v.revokeReason ? { revokeReason: v.revokeReason } : {}),
        ...(v.mintReason ? { mintReason: v.mintReason } : {}),
      }));
  }
  return status;
}
