/** The Events a person sees for the lifecycle steps of a policy. */
import type { PlanStep } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';

/**
 * An Event of a step. `routine` marks what happens to many policies at once without anyone asking
 * (first issuance, scheduled and renewal rotations, overlaps ending): these are aggregated per
 * issuer during a wave (waveEvents.ts); `why` is what they are counted by.
 */
export interface StepEvent {
  reason: string;
  action: string;
  note: string;
  routine?: boolean;
  why?: string;
}

const ROUTINE_MINTS = new Set(['Initial', 'Scheduled', 'Renewal']);

/** The Event for a step a person wants to know about; undefined for internal steps. */
export function eventFor(step: PlanStep, before: PolicyTokenRecord | undefined): StepEvent | undefined {
  switch (step.kind) {
    case 'publish': {
      // A routine rotation is done when its version (already active) reaches the Secret; a
      // pending one is announced when activated.
      const version = before?.versions.find((v) => v.version === step.version);
      return version?.state === 'active' ? rotationEvent(step, before) : undefined;
    }
    case 'activate':
      return rotationEvent(step, before);
    case 'sync':
      return {
        reason: 'SecretRestored',
        action: 'Sync',
        note: `the Secret did not hold token version ${step.version}; restored it`,
      };
    case 'clear':
      return {
        reason: 'SecretCleared',
        action: 'Sync',
        note: 'the Secret held a token that is no longer valid and none can be minted now; removed it',
      };
    case 'revoke':
      if (step.reason === 'Abandoned') return undefined;
      return {
        reason: 'Revoked',
        action: 'Revoke',
        ...(step.reason === 'OverlapEnded' ? { routine: true, why: step.reason } : {}),
        note:
          step.versions.length > 0
            ? `revoked token version(s) ${step.versions.join(', ')} (${step.reason})`
            : `nothing to revoke (${step.reason})`,
      };
    default:
      return undefined;
  }
}

/** The Warning for a revoke annotation that cannot be understood (its value cut to 64 characters). */
export function invalidRevokeEvent(value: string): {
  type: 'Warning';
  reason: string;
  action: string;
  note: string;
} {
  return {
    type: 'Warning',
    reason: 'InvalidRequest',
    action: 'Revoke',
    note: `annotation tokensmith.dev/revoke="${value.slice(0, 64)}" is not understood: use current, previous or all (optionally followed by :anything to repeat)`,
  };
}

/** Issued (a first issuance) or Rotated, once the new version is in the Secret. */
function rotationEvent(
  step: Extract<PlanStep, { kind: 'publish' | 'activate' }>,
  before: PolicyTokenRecord | undefined,
): StepEvent {
  const version = before?.versions.find((v) => v.version === step.version);
  const why = version?.mintReason ?? 'Initial';
  const routine = ROUTINE_MINTS.has(why) ? { routine: true, why } : {};
  if (why === 'Initial') {
    return {
      reason: 'Issued',
      action: 'Issue',
      note: `token version ${step.version} published to the Secret`,
      ...routine,
    };
  }
  // Activating a pending version retires the current one; a version recorded as current at once
  // already retired the one before it.
  const previous =
    step.kind === 'activate'
      ? (before?.currentVersion ?? 0)
      : Math.max(
          0,
          ...(before?.versions ?? [])
            .filter((v) => v.version < step.version && v.state === 'retiring')
            .map((v) => v.version),
        );
  const onActivate = step.kind === 'activate' ? (step.onActivate ?? version?.onActivate) : undefined;
  const after =
    previous === 0
      ? ''
      : onActivate
        ? `; version ${previous} revoked at once`
        : `; version ${previous} retiring`;
  return {
    reason: 'Rotated',
    action: 'Rotate',
    note: `token version ${step.version} published to the Secret (${why})${after}`,
    ...routine,
  };
}
