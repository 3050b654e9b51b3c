/** The Events a person sees for the lifecycle steps of a policy. */
import type { PlanStep } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';

/** The Event for a step a person wants to know about; undefined for internal steps. */
export function eventFor(
  step: PlanStep,
  before: PolicyTokenRecord | undefined,
): { reason: string; action: string; note: string } | undefined {
  switch (step.kind) {
    case 'activate': {
      const version = before?.versions.find((v) => v.version === step.version);
      const why = version?.mintReason ?? 'Initial';
      if (why === 'Initial') {
        return {
          reason: 'Issued',
          action: 'Issue',
          note: `token version ${step.version} published to the Secret`,
        };
      }
      const previous = before?.currentVersion ?? 0;
      const after =
        (step.onActivate ?? version?.onActivate)
          ? `version ${previous} revoked at once`
          : `version ${previous} retiring`;
      return {
        reason: 'Rotated',
        action: 'Rotate',
        note: `token version ${step.version} published to the Secret (${why}); ${after}`,
      };
    }
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
