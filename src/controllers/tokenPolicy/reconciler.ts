/**
 * The TokenPolicy reconciler, orchestration only: gather (gather.ts) → decide (core/plan.ts) →
 * execute one step (steps.ts) → repeat until nothing is left → report (report.ts). Level-based and
 * idempotent: it never looks at what event woke it, and a crash between steps resumes correctly.
 * What blocks minting (a guardrail, an issuer not Ready, a namespace not served) blocks only the
 * mint: every other step still runs, and the status says why no token can be minted.
 */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { API_VERSION, FINALIZER, KIND } from '../../api/constants.ts';
import { policyViolation } from '../../core/guardrails.ts';
import type { RandomBytes } from '../../core/opaque.ts';
import { activeVersion, planNextStep } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';
import { secretChange, type PolicyIdentity } from '../../core/secretData.ts';
import type { PolicySettings } from '../../core/settings.ts';
import { TokensmithError, describeFailure, isTokensmithError } from '../../errors.ts';
import type { IssuerResolver, IssuerRef, ResolvedIssuer } from '../../issuers/resolved.ts';
import type { Logger } from '../../log.ts';
import type { Clock, ObjectKey } from '../../ports.ts';
import { finalizePolicy } from './finalizer.ts';
import { NOTHING_KNOWN, gather, type Known } from './gather.ts';
import type { EventSink, PolicyWriter, SecretPort } from './ports.ts';
import { PolicyReporter } from './report.ts';
import { policySettings } from './settings.ts';
import { READY_REASON } from './status.ts';
import { eventFor, invalidRevokeEvent } from './stepEvents.ts';
import { StepExecutor, type ExecutableStep } from './steps.ts';

/** Steps one reconcile may take before it yields (a full rotation needs four). */
const MAX_STEPS = 12;

export interface PolicyReconcilerDeps {
  clock: Clock;
  log: Logger;
  random: RandomBytes;
  policies: { get(key: ObjectKey): TokenPolicy | undefined };
  issuers: IssuerResolver;
  secrets: SecretPort;
  writer: PolicyWriter;
  events: EventSink;
  /** Largest per-policy delay added to schedule fire times (spreads shared schedules). Default 0. */
  scheduleJitterMs?: number;
  /** The shortest time allowed between two rotations of a policy. Default 0. */
  minRotationIntervalMs?: number;
  /** Called after each executed step; fault-injection tests crash the process here. */
  afterStep?: (step: ExecutableStep) => void;
}

/** Where converging left a policy: its record, when to look again, when the schedule fires next. */
interface Converged {
  record: PolicyTokenRecord | undefined;
  nextCheckAt?: Date;
  nextScheduledAt?: Date;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export const POLICY_API = { apiVersion: API_VERSION, kind: KIND.tokenPolicy } as const;

export class TokenPolicyReconciler {
  private readonly deps: PolicyReconcilerDeps;
  private readonly steps: StepExecutor;
  private readonly report: PolicyReporter;

  constructor(deps: PolicyReconcilerDeps) {
    this.deps = deps;
    this.steps = new StepExecutor(deps);
    this.report = new PolicyReporter(deps);
  }

  /** Reconciles the policy `namespace/name`. Throws to ask for a retry with backoff. */
  async reconcile(key: ObjectKey): Promise<ReconcileResult> {
    let policy = this.deps.policies.get(key);
    if (!policy) return {};
    const log = this.deps.log.child({ tokenPolicy: `${key.namespace}/${key.name}` });
    const identity: PolicyIdentity = { ...key, uid: policy.metadata?.uid ?? '' };
    if (policy.metadata?.deletionTimestamp) {
      if (!(policy.metadata.finalizers ?? []).includes(FINALIZER)) return {};
      try {
        await finalizePolicy(this.deps, policy, identity, log);
      } catch (err) {
        const { reason, message } = describeFailure(err);
        await this.report.deleting(policy, { reason, message: `revoking before deletion: ${message}` }, log);
        throw err;
      }
      return {};
    }
    if (!(policy.metadata?.finalizers ?? []).includes(FINALIZER))
      await this.deps.writer.setFinalizer(policy, true);

    let settings: PolicySettings | undefined;
    let issuer: ResolvedIssuer | undefined;
    let record: PolicyTokenRecord | undefined;
    const current = { policy };
    try {
      settings = policySettings(policy, { minRotationIntervalMs: this.deps.minRotationIntervalMs ?? 0 });
      issuer = await this.deps.issuers.resolve(settings.shape.issuer as IssuerRef, key);
      const violation = policyViolation(key, policy.spec.token.ttl, settings, issuer.allowed);
      const blocked =
        issuer.mintBlockedBy ??
        (violation &&
          new TokensmithError(
            'GuardrailViolated',
            `${violation.message} (guardrail ${violation.guardrail})`,
          ));
      const result = await this.converge(current, identity, settings, issuer, log, blocked !== undefined);
      policy = current.policy; // with the status this reconcile wrote meanwhile (Issuing)
      record = result.record;
      const requeueAfterMs = result.nextCheckAt
        ? Math.max(0, result.nextCheckAt.getTime() - this.deps.clock.now().getTime())
        : undefined;
      if (blocked) {
        // Retryable (an issuer not ready yet): back off and try again. Terminal (a guardrail):
        // say so once, and come back only when something is due (an overlap ending, an expiry).
        if (blocked.retryable) throw blocked;
        await this.report.failure(policy, blocked, { record, settings, issuer }, log);
        return requeueAfterMs === undefined ? {} : { requeueAfterMs };
      }
      const active = activeVersion(record);
      const message = `token version ${active?.version ?? '?'} (${active?.fingerprint ?? ''}) is in Secret ${settings.secret.name}, valid until ${active?.expiresAt ?? '?'}`;
      await this.report.status(
        policy,
        record,
        settings,
        { ready: true, reason: READY_REASON.issued, message },
        result.nextScheduledAt,
      );
      log.debug({ generation: policy.metadata?.generation, version: active?.version }, 'reconciled');
      return requeueAfterMs === undefined ? {} : { requeueAfterMs };
    } catch (err) {
      // An issuer that is not Ready is the cause to show (its own status says what is wrong with
      // its Vault), even when a Vault request of a step that mints nothing failed too.
      const shown = issuer?.mintBlockedBy ?? err;
      await this.report.failure(
        current.policy,
        shown,
        { record, ...(settings ? { settings } : {}), ...(issuer ? { issuer } : {}) },
        log,
      );
      throw err;
    }
  }

  /** Runs plan steps until none is left; returns the final record and when to look again. */
  private async converge(
    current: { policy: TokenPolicy },
    identity: PolicyIdentity,
    settings: PolicySettings,
    issuer: ResolvedIssuer,
    log: Logger,
    mintBlocked: boolean,
  ): Promise<Converged> {
    let known: Known = NOTHING_KNOWN;
    const jitterMaxMs = this.deps.scheduleJitterMs ?? 0;
    for (let i = 0; i < MAX_STEPS; i++) {
      const now = this.deps.clock.now();
      const world = await gather({
        policy: current.policy,
        identity,
        settings,
        issuer,
        secrets: this.deps.secrets,
        known,
        now,
        jitterMaxMs,
        mintBlocked,
      });
      const { record, stored, requests } = world;
      if (requests.invalidRevoke !== undefined)
        this.deps.events.record(current.policy, invalidRevokeEvent(requests.invalidRevoke));
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
        current.policy = await this.report.issuing(current.policy, {
          version: (record?.lastVersion ?? 0) + 1,
          reason: step.reason,
        });
      }
      try {
        const result = await this.steps.execute(step, {
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
      this.deps.afterStep?.(step);
      // The previous token leaving the Secret when its overlap ends is tokensmith's own doing.
      const quiet =
        step.kind === 'sync' &&
        world.desired !== undefined &&
        secretChange(world.secret, identity, settings, world.desired, record) === 'overlapEnded';
      const event = quiet ? undefined : eventFor(step, record);
      if (event) this.deps.events.record(current.policy, { type: 'Normal', ...event });
    }
    throw new TokensmithError(
      'NotConverging',
      `the policy was still changing after ${MAX_STEPS} steps (something else keeps changing its Secret or Vault record?); will retry`,
    );
  }
}
