/**
 * The TokenPolicy reconciler, orchestration only: gather (gather.ts) → decide (core/plan.ts) →
 * execute one step (steps.ts) → repeat until nothing is left → report (report.ts). Level-based and
 * idempotent: it never looks at what event woke it, and a crash between steps resumes correctly.
 * What blocks minting (a guardrail, an issuer not Ready, a namespace not served) blocks only the
 * mint: every other step still runs, and the status says why no token can be minted.
 */
import type { Metrics } from '../../metrics/metrics.ts';
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { API_VERSION, FINALIZER, KIND } from '../../api/constants.ts';
import type { RandomBytes } from '../../core/opaque.ts';
import { activeVersion } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';
import type { PolicyIdentity } from '../../core/secretData.ts';
import type { PolicySettings } from '../../core/settings.ts';
import type { IssuerResolver, IssuerRef, ResolvedIssuer } from '../../issuers/resolved.ts';
import type { Logger } from '../../log.ts';
import type { Clock, ObjectKey } from '../../ports.ts';
import { finalizePolicy } from './finalizer.ts';
import { mintBlockedBy } from './gather.ts';
import type { EventSink, PolicyWriter, SecretPort } from './ports.ts';
import { PolicyReporter } from './report.ts';
import { policySettings } from './settings.ts';
import { StepExecutor, type ExecutableStep } from './steps.ts';
import { converge, type ConvergeDeps, type InFlightPolicy } from './converge.ts';
import type { WaveEvents } from './waveEvents.ts';

export interface PolicyReconcilerDeps {
  clock: Clock;
  log: Logger;
  random: RandomBytes;
  policies: { get(key: ObjectKey): TokenPolicy | undefined };
  issuers: IssuerResolver;
  secrets: SecretPort;
  writer: PolicyWriter;
  events: EventSink;
  /** Routine Events during a wave, aggregated per issuer (waveEvents.ts). Default: none held back. */
  waves?: Pick<WaveEvents, 'record'>;
  /** Largest per-policy delay added to schedule fire times (spreads shared schedules). Default 0. */
  scheduleJitterMs?: number;
  /** The shortest time allowed between two rotations of a policy. Default 0. */
  minRotationIntervalMs?: number;
  /** Called after each executed step; fault-injection tests crash the process here. */
  afterStep?: (step: ExecutableStep) => void;
  /** Where rotations and revocations are counted. */
  metrics?: Pick<Metrics, 'rotations' | 'revocations'>;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export const POLICY_API = { apiVersion: API_VERSION, kind: KIND.tokenPolicy } as const;

export class TokenPolicyReconciler {
  private readonly deps: PolicyReconcilerDeps;
  private readonly report: PolicyReporter;

  private readonly convergeDeps: ConvergeDeps;

  constructor(deps: PolicyReconcilerDeps) {
    this.deps = deps;
    this.report = new PolicyReporter(deps);
    this.convergeDeps = { ...deps, steps: new StepExecutor(deps), report: this.report };
  }

  /** Reconciles the policy `namespace/name`. Throws to ask for a retry with backoff. */
  async reconcile(key: ObjectKey): Promise<ReconcileResult> {
    const policy = this.deps.policies.get(key);
    if (!policy) return {};
    const log = this.deps.log.child({ tokenPolicy: `${key.namespace}/${key.name}` });
    const identity: PolicyIdentity = { ...key, uid: policy.metadata?.uid ?? '' };
    if (policy.metadata?.deletionTimestamp) {
      await finalizePolicy({ ...this.deps, report: this.report }, policy, identity, log);
      return {};
    }
    // A policy without the finalizer was never reconciled past this point, so Vault holds no
    // record of it: its first write is create-only (check-and-set 0) instead of a read first. A
    // record left by an earlier policy of the same name makes that write fail; it is read then.
    const fresh = !(policy.metadata?.finalizers ?? []).includes(FINALIZER);
    if (fresh) await this.deps.writer.setFinalizer(policy, true);

    let settings: PolicySettings | undefined;
    let issuer: ResolvedIssuer | undefined;
    let record: PolicyTokenRecord | undefined;
    const current: InFlightPolicy = { policy };
    try {
      settings = policySettings(policy, { minRotationIntervalMs: this.deps.minRotationIntervalMs ?? 0 });
      issuer = await this.deps.issuers.resolve(settings.shape.issuer as IssuerRef, key);
      const blocked = mintBlockedBy(issuer, key, policy.spec.token.ttl, settings);
      const result = await converge(
        this.convergeDeps,
        current,
        identity,
        settings,
        issuer,
        log,
        blocked !== undefined,
        fresh,
      );
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
      await this.report.issued(policy, record, settings, result.nextScheduledAt);
      log.debug({ generation: policy.metadata?.generation, version: active?.version }, 'reconciled');
      return requeueAfterMs === undefined ? {} : { requeueAfterMs };
    } catch (err) {
      // An issuer that is not Ready is the cause to show (its own status says what is wrong with
      // its Vault), even when a Vault request of a step that mints nothing failed too.
      const shown = issuer?.mintBlockedBy ?? err;
      await this.report.failure(
        current.policy,
        shown,
        {
          record,
          ...(settings ? { settings } : {}),
          ...(issuer ? { issuer } : {}),
          inFlight: current.inFlight,
        },
        log,
      );
      throw err;
    }
  }
}
