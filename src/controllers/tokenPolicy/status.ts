/**
 * A TokenPolicy's status, computed from the Vault record and the outcome of a reconcile. Three
 * conditions, each with a closed set of reasons:
 *   Ready     True/Issued, or False with an error code (errors.ts) or Deleting
 *   Issuing   True while a new token version is in flight, reason = why it is minted (MintReason);
 *             absent otherwise (as cert-manager's Issuing)
 *   Deleting  True while the finalizer revokes before deletion: Revoking, or the error code
 */
import type { TokenPolicyStatus } from '../../api/v1alpha1.generated.ts';
import { setCondition, setReady, type Condition, type ReadyOutcome } from '../../core/conditions.ts';
import { activeVersion, renewalDueAt, type MintReason } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';
import type { ErrorCode } from '../../errors.ts';

/** Reasons of the Ready condition: a closed set. */
export const READY_REASON = {
  issued: 'Issued',
  deleting: 'Deleting',
} as const;

export type ReadyReason = (typeof READY_REASON)[keyof typeof READY_REASON] | ErrorCode;
export type IssuingReason = MintReason;
export type DeletingReason = 'Revoking' | ErrorCode;

/** The policy's conditions with Issuing set for the version in flight, or removed without one. */
function withIssuing(
  conditions: Condition[],
  inFlight: { version: number; reason: IssuingReason } | undefined,
  now: Date,
  generation: number | undefined,
): Condition[] {
  if (!inFlight) return conditions.filter((c) => c.type !== 'Issuing');
  return setCondition(
    conditions,
    {
      type: 'Issuing',
      status: 'True',
      reason: inFlight.reason,
      message: `token version ${inFlight.version} is being issued (${inFlight.reason})`,
    },
    now,
    generation,
  );
}

/** The status of a policy being deleted: Deleting=True saying how far it got, Ready=False. */
export function deletingStatus(
  previous: TokenPolicyStatus | undefined,
  generation: number | undefined,
  now: Date,
  deleting: { reason: DeletingReason; message: string },
): TokenPolicyStatus {
  const ready = setReady(
    previous?.conditions,
    { ready: false, reason: READY_REASON.deleting, message: deleting.message },
    now,
    generation,
  );
  const conditions = setCondition(
    withIssuing(ready, undefined, now, generation),
    { type: 'Deleting', status: 'True', ...deleting },
    now,
    generation,
  );
  return { ...previous, conditions };
}

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
  outcome: ReadyOutcome & { reason: ReadyReason };
  /** A version this reconcile minted and could not publish (shown as Issuing). */
  inFlight?: { version: number; reason: IssuingReason };
}): TokenPolicyStatus {
  const { previous, now } = options;
  const ready = setReady(previous?.conditions, options.outcome, now, options.generation);
  const pending =
    options.record === 'unknown' ? undefined : options.record?.versions.find((v) => v.state === 'pending');
  const conditions =
    options.record === 'unknown'
      ? ready
      : withIssuing(
          ready,
          options.inFlight ??
            (pending && {
              version: pending.version,
              reason: (pending.mintReason ?? 'Initial') as IssuingReason,
            }),
          now,
          options.generation,
        );
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
