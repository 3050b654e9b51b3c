/**
 * A TokenPolicy's status from its Vault record: the active version's fields, the versions list,
 * and, when Vault could not be read, the last known status kept under the new condition (an
 * unreachable Vault does not make the issued version vanish from `kubectl get`).
 */
import { describe, expect, it } from 'vitest';
import { deletingStatus, policyStatus } from '../../../src/controllers/tokenPolicy/status.ts';
import { active, at, HOUR, pending, record, retiring, T0, version } from '../../support/builders.ts';

const issued = { ready: true, reason: 'Issued', message: 'token version 2 is in Secret s' } as const;
const unreachable = { ready: false, reason: 'VaultUnreachable', message: 'Vault did not answer' } as const;

describe('policyStatus', () => {
  const held = record(2, version(1, retiring(0)), version(2, active()));
  const ok = policyStatus({
    previous: undefined,
    generation: 3,
    now: T0,
    record: held,
    renewBeforeMs: HOUR,
    overlapMs: HOUR,
    outcome: issued,
  });

  it('shows the active version and the versions, newest first', () => {
    expect(ok).toMatchObject({
      observedGeneration: 3,
      currentVersion: 2,
      fingerprint: 'sha256:hash-2',
      expiresAt: at(24 * HOUR).toISOString(),
      nextRotationAt: at(23 * HOUR).toISOString(),
    });
    expect(ok.versions?.map((v) => [v.version, v.state, v.retireAt])).toEqual([
      [2, 'active', undefined],
      [1, 'retiring', at(HOUR).toISOString()],
    ]);
  });

  it('shows the next rotation as the earlier of renewal and the schedule', () => {
    const at2h = at(2 * HOUR);
    const scheduled = policyStatus({
      previous: undefined,
      generation: 3,
      now: T0,
      record: held,
      renewBeforeMs: HOUR,
      nextScheduledAt: at2h,
      outcome: issued,
    });
    expect(scheduled.nextRotationAt).toBe(at2h.toISOString());
    const later = policyStatus({
      previous: undefined,
      generation: 3,
      now: T0,
      record: held,
      renewBeforeMs: HOUR,
      nextScheduledAt: at(48 * HOUR),
      outcome: issued,
    });
    expect(later.nextRotationAt).toBe(at(23 * HOUR).toISOString());
  });

  it('keeps what it last knew when Vault cannot be read, under the new condition', () => {
    const failed = policyStatus({
      previous: ok,
      generation: 3,
      now: at(HOUR),
      record: 'unknown',
      renewBeforeMs: HOUR,
      outcome: unreachable,
    });
    expect({ ...failed, conditions: undefined }).toEqual({ ...ok, conditions: undefined });
    expect(failed.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'VaultUnreachable',
    });
  });

  it('shows Issuing while a version is in flight, and drops it once none is', () => {
    // A version recorded as current that the Secret did not get (the reconcile failed after the mint).
    const minting = policyStatus({
      previous: ok,
      generation: 3,
      now: at(HOUR),
      record: record(3, version(1, retiring(0)), version(2, retiring(HOUR)), version(3)),
      renewBeforeMs: HOUR,
      outcome: unreachable,
      inFlight: { version: 3, reason: 'Renewal' },
    });
    expect(minting.conditions?.find((c) => c.type === 'Issuing')).toMatchObject({
      status: 'True',
      reason: 'Renewal',
      message: 'token version 3 is being issued (Renewal)',
    });
    const stuck = policyStatus({
      previous: minting,
      generation: 3,
      now: at(HOUR),
      record: record(2, version(1, retiring(0)), version(2), {
        ...version(3, pending()),
        mintReason: 'Renewal',
      }),
      renewBeforeMs: HOUR,
      outcome: unreachable,
    });
    expect(stuck.conditions?.find((c) => c.type === 'Issuing')?.reason).toBe('Renewal');
    const done = policyStatus({
      previous: minting,
      generation: 3,
      now: at(HOUR),
      record: held,
      renewBeforeMs: HOUR,
      outcome: issued,
    });
    expect(done.conditions?.map((c) => c.type)).toEqual(['Ready']);
  });

  it('shows Deleting and Ready=False while the finalizer cannot revoke', () => {
    const deleting = deletingStatus(ok, 3, at(HOUR), {
      reason: 'VaultUnreachable',
      message: 'revoking before deletion: Vault could not be reached',
    });
    expect(deleting.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'Deleting'],
      ['Deleting', 'True', 'VaultUnreachable'],
    ]);
    expect(deleting.currentVersion).toBe(2);
  });

  it('shows no version when Vault holds none', () => {
    const none = policyStatus({
      previous: ok,
      generation: 4,
      now: at(HOUR),
      record: undefined,
      renewBeforeMs: HOUR,
      outcome: unreachable,
    });
    expect(none.currentVersion).toBeUndefined();
    expect(none.versions).toBeUndefined();
  });
});
