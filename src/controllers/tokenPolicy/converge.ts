/**
 * The step loop of one reconcile: gather → plan → execute one step → repeat until the plan says
 * nothing is left (or MAX_STEPS: then NotConverging, retried with backoff). A lost check-and-set
 * race re-reads and re-plans; each executed step gets its Event, and a rotation in flight shows as
 * Issuing=True before its mint.
 */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { planNextStep } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';
import { secretChange, type PolicyIdentity } from '../../core/secretData.ts';
import type { PolicySettings } from '../../core/settings.ts';
import { TokensmithError, isTokensmithError } from '../../errors.ts';
import type { ResolvedIssuer } from '../../issuers/resolved.ts';
import type { Logger } from '../../log.ts';
import type { Clock } from '../../ports.ts';
import { NOTHING_KNOWN, gather, type Known } from './gather.ts';
import type { EventSink, SecretPort } from './ports.ts';
import type { PolicyReporter } from './report.ts';
import { eventFor, invalidRevokeEvent } from './stepEvents.ts';
import type { ExecutableStep, StepExecutor } from './steps.ts';

/** Steps one reconcile may take before it yields (a full rotation needs four). */
const MAX_STEPS = 12;

/** Where converging left a policy: its record, when to look again, when the schedule fires next. */
export interface Converged {
  record: PolicyTokenRecord | undefined;
  nextCheckAt?: Date;
  nextScheduledAt?: Date;
}

export interface ConvergeDeps {
  clock: Clock;
  secrets: SecretPort;
  events: EventSink;
  steps: StepExecutor;
  report: PolicyReporter;
  scheduleJitterMs?: number;
  afterStep?: (step: ExecutableStep) => void;
}

/**
 * Runs plan steps until none is left. `current.policy` is replaced by the policy with the status
 * written meanwhile (Issuing), so that the final status is compared with what was written.
 */
export async function converge(
  deps: ConvergeDeps,
  current: { policy: TokenPolicy },
  identity: PolicyIdentity,
  settings: PolicySettings,
  issuer: ResolvedIssuer,
  log: Logger,
  mintBlocked: boolean,
): Promise<Converged> {
  let known: Known = NOTHING_KNOWN;
  const jitterMaxMs = deps.scheduleJitterMs ?? 0;
  for (let i = 0; i < MAX_STEPS; i++) {
    const now = deps.clock.now();
    const world = await gather({
      policy: current.policy,
      identity,
      settings,
      issuer,
      secrets: deps.secrets,
      known,
      now,
      jitterMaxMs,
      mintBlocked,
    });
    const { record, stored, requests } = world;
    if (requests.invalidRevoke !== undefined)
      deps.events.record(current.policy, invalidRevokeEvent(requests.invalidRevoke));
    const step = planNextStep(world.input);
    if (step.kind === 'none') {
      return {
        record,
        ...(step.nextCheckAt ? { nextCheckAt: step.nextCheckAt } : {}),
        ...(requests.nextScheduledAt ? { nextScheduledAt: requests.nextScheduledAt } : {}),
      };
    }
    log.debug({ step: step.kind, ...('reason' in step ? { reason: step.reason } : {}) }, 'executing step');
    // A rotation in flight shows as Issuing=True (the first issuance needs no extra write: its
    // status follows at once, and shows Issuing too should it stop half way).
    if (step.kind === 'mint' && step.reason !== 'Initial') {
      current.policy = await deps.report.issuing(current.policy, {
        version: (record?.lastVersion ?? 0) + 1,
        reason: step.reason,
      });
    }
    try {
      const result = await deps.steps.execute(step, {
        policy: current.policy,
        identity,
        settings,
        issuer,
        record,
        stored,
        now,
      });
      known = {
        stored: result.stored === undefined ? (stored ?? null) : result.stored,
        secret: result.secret ?? known.secret,
      };
    } catch (err) {
      if (isTokensmithError(err, 'VaultConflict')) {
        known = NOTHING_KNOWN; // someone wrote first: re-read, re-plan
        continue;
      }
      throw err;
    }
    deps.afterStep?.(step);
    // The previous token leaving the Secret when its overlap ends is tokensmith's own doing.
    const quiet =
      step.kind === 'sync' &&
      world.desired !== undefined &&
      secretChange(world.secret, identity, settings, world.desired, record) === 'overlapEnded';
    const event = quiet ? undefined : eventFor(step, record);
    if (event) deps.events.record(current.policy, { type: 'Normal', ...event });
  }
  throw new TokensmithError(
    'NotConverging',
    `the policy was still changing after ${MAX_STEPS} steps (something else keeps changing its Secret or Vault record?); will retry`,
  );
}
