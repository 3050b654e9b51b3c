/**
 * The step loop of one reconcile: gather → plan → execute one step → repeat until the plan says
 * nothing is left (or MAX_STEPS: then NotConverging, retried with backoff). A lost check-and-set
 * race re-reads and re-plans; each executed step gets its Event, and a rotation that stops half
 * way shows as Issuing=True.
 */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { planNextStep, type MintReason } from '../../core/plan.ts';
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
import type { WaveEvents } from './waveEvents.ts';

/** Steps one reconcile may take before it yields (a full rotation needs four). */
const MAX_STEPS = 12;

/** The policy as this reconcile last wrote it, and the version it is minting, if any. */
export interface InFlightPolicy {
  policy: TokenPolicy;
  inFlight?: { version: number; reason: MintReason };
}

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
  /** Where routine Events go during a wave (aggregated per issuer); without it, to `events`. */
  waves?: Pick<WaveEvents, 'record'>;
  steps: StepExecutor;
  report: PolicyReporter;
  scheduleJitterMs?: number;
  afterStep?: (step: ExecutableStep) => void;
}

/**
 * Runs plan steps until none is left. `current.inFlight` names the version minted and not yet
 * published, for the status of a failure.
 */
export async function converge(
  deps: ConvergeDeps,
  current: InFlightPolicy,
  identity: PolicyIdentity,
  settings: PolicySettings,
  issuer: ResolvedIssuer,
  log: Logger,
  mintBlocked: boolean,
  /** Vault holds no record of this policy (never reconciled before): no read, create-only write. */
  fresh = false,
): Promise<Converged> {
  let known: Known = fresh ? { stored: undefined, secret: null } : NOTHING_KNOWN;
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
    // A rotation in flight shows as Issuing=True only should it stop half way (the failure's
    // status says so): a status write before each mint would cost every rotation a request.
    if (step.kind === 'mint')
      current.inFlight = { version: (record?.lastVersion ?? 0) + 1, reason: step.reason };
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
        // What the step wrote, else what this round saw (absent included): a step that wrote no
        // Secret did not change it.
        secret: result.secret ?? world.secret,
      };
    } catch (err) {
      if (isTokensmithError(err, 'VaultConflict')) {
        known = NOTHING_KNOWN; // someone wrote first: re-read, re-plan
        continue;
      }
      throw err;
    }
    if (step.kind === 'publish' || step.kind === 'activate') current.inFlight = undefined;
    deps.afterStep?.(step);
    // The previous token leaving the Secret when its overlap ends is tokensmith's own doing.
    const quiet =
      step.kind === 'sync' &&
      world.desired !== undefined &&
      secretChange(world.secret, identity, settings, world.desired, record) === 'overlapEnded';
    const event = quiet ? undefined : eventFor(step, record);
    if (event) {
      const { routine, why, ...shown } = event;
      if (routine && deps.waves)
        deps.waves.record(current.policy, issuer.ref, { type: 'Normal', ...shown, ...(why ? { why } : {}) });
      else deps.events.record(current.policy, { type: 'Normal', ...shown });
    }
  }
  throw new TokensmithError(
    'NotConverging',
    `the policy was still changing after ${MAX_STEPS} steps (something else keeps changing its Secret or Vault record?); will retry`,
  );
}
