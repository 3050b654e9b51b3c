/**
 * The TokenPolicy reconciler: gather (policy, issuer, Vault record, Secret) → decide
 * (planNextStep) → execute one step → repeat until nothing is left → write status. Level-based and
 * idempotent: it never looks at what event woke it, and a crash between steps resumes correctly.
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { ANNOTATION, API_VERSION, FINALIZER, KIND } from '../../api/constants.ts';
import { formatDuration } from '../../core/duration.ts';
import { checkGuardrails } from '../../core/guardrails.ts';
import { activeVersion, planNextStep, type PlanStep } from '../../core/plan.ts';
import type { PolicyTokenRecord, TokenVersionRecord } from '../../core/records.ts';
import { shapeHash, type PolicySettings } from '../../core/settings.ts';
import { tokenHash } from '../../core/fingerprint.ts';
import type { RandomBytes } from '../../core/opaque.ts';
import {
  emptyRecord,
  withHandled,
  withActivated,
  withAllRevoked,
  withMinted,
  withPruned,
  withRevoked,
  newlyRevokedHashes,
} from '../../core/transitions.ts';
import { TokensmithError, describeFailure, isTokensmithError, safeErrorFields } from '../../errors.ts';
import type { IssuerResolver, IssuerRef, ResolvedIssuer } from '../../issuers/resolved.ts';
import type { Logger } from '../../log.ts';
import type { Clock, ObjectKey, Versioned } from '../../ports.ts';
import { mintVersion } from './mint.ts';
import type { EventSink, PolicyWriter, SecretPort, WorkloadRestarterPort } from './ports.ts';
import {
  desiredSecret,
  desiredSecretData,
  ownedByOther,
  secretChange,
  secretInSync,
  tokenInSecret,
  type PolicyIdentity,
} from './secret.ts';
import { pendingRequests } from './requests.ts';
import { policySettings } from './settings.ts';
import { READY_REASON, policyStatus } from './status.ts';
import type { ReadyOutcome } from '../../core/conditions.ts';

/** How soon a failed workload restart is tried again. */
const WORKLOAD_RETRY_MS = 30_000;

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
  /** Restarts the workloads a policy names once per new token version; none: not restarted. */
  workloads?: WorkloadRestarterPort;
  /** Largest per-policy delay added to schedule fire times (spreads shared schedules). Default 0. */
  scheduleJitterMs?: number;
  /** The shortest time allowed between two rotations of a policy. Default 0. */
  minRotationIntervalMs?: number;
  /** Called after each executed step; fault-injection tests crash the process here. */
  afterStep?: (step: Exclude<PlanStep, { kind: 'none' }>) => void;
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

export class TokenPolicyReconciler {
  private readonly deps: PolicyReconcilerDeps;

  constructor(deps: PolicyReconcilerDeps) {
    this.deps = deps;
  }

  /** Reconciles the policy `namespace/name`. Throws to ask for a retry with backoff. */
  async reconcile(key: ObjectKey): Promise<ReconcileResult> {
    const policy = this.deps.policies.get(key);
    if (!policy) return {};
    const log = this.deps.log.child({ tokenPolicy: `${key.namespace}/${key.name}` });
    const identity: PolicyIdentity = { ...key, uid: policy.metadata?.uid ?? '' };

    if (policy.metadata?.deletionTimestamp) return this.finalize(policy, identity, log);
    if (!(policy.metadata?.finalizers ?? []).includes(FINALIZER))
      await this.deps.writer.setFinalizer(policy, true);

    let settings: PolicySettings | undefined;
    let issuer: ResolvedIssuer | undefined;
    let record: PolicyTokenRecord | undefined;
    try {
      settings = policySettings(policy, { minRotationIntervalMs: this.deps.minRotationIntervalMs ?? 0 });
      issuer = await this.deps.issuers.resolve(settings.shape.issuer as IssuerRef, key);
      // What keeps this policy from minting now blocks only minting: revocations, overlap ends,
      // drift repair and pruning still run (see plan.ts).
      const blocked = issuer.mintBlockedBy ?? guardrailViolation(key, policy, settings, issuer);
      const result = await this.converge(policy, identity, settings, issuer, log, blocked !== undefined);
      record = result.record;
      let requeueAfterMs = result.nextCheckAt
        ? Math.max(0, result.nextCheckAt.getTime() - this.deps.clock.now().getTime())
        : undefined;
      if (blocked) {
        // Retryable (an issuer not ready yet): back off and try again. Terminal (a guardrail):
        // say so once, and come back only when something is due (an overlap ending, an expiry).
        if (blocked.retryable) throw blocked;
        await this.reportFailure(policy, key, blocked, record, settings, issuer, log);
        return requeueAfterMs === undefined ? {} : { requeueAfterMs };
      }
      const active = activeVersion(record);
      const restartFailed = active ? await this.restartWorkloads(policy, key, settings, active) : false;
      await this.writeStatus(policy, record, settings, result.nextScheduledAt, {
        ready: true,
        reason: READY_REASON.issued,
        message: `token version ${active?.version ?? '?'} (${active?.fingerprint ?? ''}) is in Secret ${settings.secret.name}, valid until ${active?.expiresAt ?? '?'}`,
      });
      // A workload that could not be restarted still runs the old token: try again soon.
      if (restartFailed) requeueAfterMs = Math.min(requeueAfterMs ?? WORKLOAD_RETRY_MS, WORKLOAD_RETRY_MS);
      return requeueAfterMs === undefined ? {} : { requeueAfterMs };
    } catch (err) {
      // An issuer that is not Ready is the cause to show (its own status says what is wrong with
      // its Vault), even when a Vault request of a step that mints nothing failed too.
      await this.reportFailure(policy, key, issuer?.mintBlockedBy ?? err, record, settings, issuer, log);
      throw err;
    }
  }

  /** A Warning Event and Ready=False saying why, with what Vault holds if it can be read. */
  private async reportFailure(
    policy: TokenPolicy,
    key: ObjectKey,
    err: unknown,
    record: PolicyTokenRecord | undefined,
    settings: PolicySettings | undefined,
    issuer: ResolvedIssuer | undefined,
    log: Logger,
  ): Promise<void> {
    const safe = safeErrorFields(err);
    const { reason, message } = describeFailure(err);
    log.warn({ err: safe }, 'reconcile failed');
    this.deps.events.record(policy, { type: 'Warning', reason, action: 'Reconcile', note: message });
    // What Vault holds, if it can be read now; else the status keeps what it last knew (an
    // unreachable Vault does not make the issued version disappear from kubectl).
    let known: PolicyTokenRecord | undefined | 'unknown' = record ?? 'unknown';
    if (known === 'unknown' && issuer) {
      known = await issuer.store.read(key).then(
        (r) => r?.value,
        (): 'unknown' => 'unknown',
      );
    }
    await this.writeStatus(policy, known, settings, undefined, { ready: false, reason, message }).catch(
      (statusErr: unknown) => {
        log.warn({ err: safeErrorFields(statusErr) }, 'status write failed');
      },
    );
  }

  /** Runs plan steps until none is left; returns the final record and when to look again. */
  private async converge(
    policy: TokenPolicy,
    identity: PolicyIdentity,
    settings: PolicySettings,
    issuer: ResolvedIssuer,
    log: Logger,
    mintBlocked: boolean,
  ): Promise<Converged> {
    const key = { namespace: identity.namespace, name: identity.name };
    const specHash = shapeHash(settings.shape);
    let known: { stored: Versioned<PolicyTokenRecord> | undefined | null; secret: V1Secret | undefined } = {
      stored: null,
      secret: undefined,
    };
    for (let i = 0; i < MAX_STEPS; i++) {
      const now = this.deps.clock.now();
      // What this reconcile wrote itself is known without reading it back: the Secret cache may not
      // have seen our own apply yet, and a Vault read would only return what we just wrote.
      const stored = known.stored === null ? await issuer.store.read(key) : known.stored;
      const record = this.adopt(stored?.value, identity, settings);
      const secret =
        known.secret ??
        (await this.deps.secrets.get({
          namespace: identity.namespace,
          name: settings.secret.name,
        }));
      if (ownedByOther(secret, identity)) {
        throw new TokensmithError(
          'SecretNotOwned',
          `Secret ${settings.secret.name} already exists and is not managed by this TokenPolicy; delete it or choose another spec.secret.name`,
        );
      }
      const inSecret = tokenInSecret(secret, settings);
      const active = activeVersion(record);
      const desired = active ? desiredSecretData(settings, active, record, now) : undefined;
      const requests = pendingRequests({
        annotations: policy.metadata?.annotations,
        uid: identity.uid,
        createdAt: new Date(policy.metadata?.creationTimestamp ?? now),
        settings,
        record,
        now,
        jitterMaxMs: this.deps.scheduleJitterMs ?? 0,
      });
      if (requests.invalidRevoke !== undefined) {
        this.deps.events.record(policy, {
          type: 'Warning',
          reason: 'InvalidRequest',
          action: 'Revoke',
          note: `annotation ${ANNOTATION.revoke}="${requests.invalidRevoke.slice(0, 64)}" is not understood: use current, previous or all (optionally followed by :anything to repeat)`,
        });
      }
      const step = planNextStep({
        now,
        record,
        secretTokenHash: inSecret === undefined ? undefined : tokenHash(inSecret),
        secretInSync: desired !== undefined && secretInSync(secret, identity, settings, desired),
        specHash,
        renewBeforeMs: settings.renewBeforeMs,
        overlapMs: settings.overlapMs,
        historyLimit: settings.historyLimit,
        requests: requests.pending,
        ...(requests.nextScheduledAt ? { nextScheduledAt: requests.nextScheduledAt } : {}),
        compromisedKids: issuer.compromisedKids,
        mintBlocked,
      });
      if (step.kind === 'none')
        return {
          record,
          ...(step.nextCheckAt ? { nextCheckAt: step.nextCheckAt } : {}),
          ...(requests.nextScheduledAt ? { nextScheduledAt: requests.nextScheduledAt } : {}),
        };
      log.debug({ step: step.kind, ...('reason' in step ? { reason: step.reason } : {}) }, 'executing step');
      try {
        const result = await this.execute(step, { policy, identity, settings, issuer, record, stored, now });
        known = {
          stored: result.stored === undefined ? (stored ?? null) : result.stored,
          secret: result.secret ?? known.secret,
        };
      } catch (err) {
        if (isTokensmithError(err, 'VaultConflict')) {
          known = { stored: null, secret: undefined }; // someone wrote first: re-read, re-plan
          continue;
        }
        throw err;
      }
      this.deps.afterStep?.(step);
      // The previous token leaving the Secret when its overlap ends is tokensmith's own doing.
      const quiet =
        step.kind === 'sync' &&
        desired !== undefined &&
        secretChange(secret, identity, settings, desired, record) === 'overlapEnded';
      const event = quiet ? undefined : eventFor(step, record);
      if (event) this.deps.events.record(policy, { type: 'Normal', ...event });
    }
    throw new TokensmithError(
      'NotConverging',
      `the policy was still changing after ${MAX_STEPS} steps (something else keeps changing its Secret or Vault record?); will retry`,
    );
  }

  /** A record from a previous policy of the same name (other uid) is retired, numbers continue. */
  private adopt(
    record: PolicyTokenRecord | undefined,
    identity: PolicyIdentity,
    settings: PolicySettings,
  ): PolicyTokenRecord | undefined {
    if (!record || record.policy.uid === identity.uid) return record;
    return { ...emptyRecord(identity, settings.shape.issuer), lastVersion: record.lastVersion };
  }

  private async execute(
    step: Exclude<PlanStep, { kind: 'none' }>,
    ctx: {
      policy: TokenPolicy;
      identity: PolicyIdentity;
      settings: PolicySettings;
      issuer: ResolvedIssuer;
      record: PolicyTokenRecord | undefined;
      stored: Versioned<PolicyTokenRecord> | undefined;
      now: Date;
    },
  ): Promise<{ stored?: Versioned<PolicyTokenRecord>; secret?: V1Secret }> {
    const { identity, settings, issuer, now } = ctx;
    const key = { namespace: identity.namespace, name: identity.name };
    const record = ctx.record ?? emptyRecord(identity, settings.shape.issuer);
    const cas = ctx.stored?.casVersion ?? 0;
    const write = async (next: PolicyTokenRecord) => {
      const casVersion = await issuer.store.write(key, next, cas);
      await dropFromIndex(issuer, newlyRevokedHashes(ctx.record, next));
      return { stored: { value: next, casVersion } };
    };
    switch (step.kind) {
      case 'mint': {
        const minted = await mintVersion({
          version: record.lastVersion + 1,
          settings,
          issuer,
          now,
          random: this.deps.random,
        });
        if (minted.kid !== undefined && issuer.compromisedKids.has(minted.kid)) {
          // Never recorded: a token signed by a leaked key would only be replaced again.
          throw new TokensmithError(
            'IssuerNotReady',
            `${issuer.ref.kind} ${issuer.ref.name} still signs with key ${minted.kid}, which is compromised; waiting for its rotation`,
          );
        }
        minted.mintReason = step.reason;
        if (step.onActivate) minted.onActivate = step.onActivate;
        // Index first: a crash after this leaves an index entry for a token nobody holds (harmless);
        // the other order could leave a live token that introspection cannot find.
        await issuer.store.putIndex(minted.tokenHash, { ...key, version: minted.version, kind: 'token' });
        if (minted.refreshTokenHash) {
          await issuer.store.putIndex(minted.refreshTokenHash, {
            ...key,
            version: minted.version,
            kind: 'refreshToken',
          });
        }
        return write(withMinted(record, minted, step.handles));
      }
      case 'publish':
      case 'sync': {
        const version = record.versions.find((v) => v.version === step.version);
        if (!version) return {};
        const data = desiredSecretData(settings, version, record, now);
        return { secret: await this.deps.secrets.apply(desiredSecret(identity, settings, data)) };
      }
      case 'clear':
        // Applied without data, tokensmith's keys leave the Secret: no revoked token stays there.
        return { secret: await this.deps.secrets.apply(desiredSecret(identity, settings, {})) };
      case 'activate':
        return write(withHandled(withActivated(record, step.version, now, step.onActivate), step.handles));
      case 'revoke':
        return write(withHandled(withRevoked(record, step.versions, now, step.reason), step.handles));
      case 'prune': {
        // Revoked versions left the index when revoked; an expired one leaves it now (idempotent).
        const pruned = record.versions.filter((x) => step.versions.includes(x.version));
        await dropFromIndex(
          issuer,
          pruned.flatMap((v) => [v.tokenHash, ...(v.refreshTokenHash ? [v.refreshTokenHash] : [])]),
        );
        return write(withPruned(record, step.versions));
      }
    }
  }

  /** Restarts the named workloads once for the active version (idempotent; see src/kube/workloads.ts). */
  private async restartWorkloads(
    policy: TokenPolicy,
    key: ObjectKey,
    settings: PolicySettings,
    active: TokenVersionRecord,
  ): Promise<boolean> {
    if (!this.deps.workloads || settings.workloads.length === 0) return false;
    const results = await this.deps.workloads.ensureRestartedFor(key, settings.workloads, active.fingerprint);
    for (const r of results) {
      if (r.outcome === 'restarted') {
        this.deps.events.record(policy, {
          type: 'Normal',
          reason: 'WorkloadRestarted',
          action: 'Restart',
          note: `restarted ${r.kind} ${r.name} for token version ${active.version}`,
        });
      } else if (r.outcome !== 'unchanged') {
        this.deps.events.record(policy, {
          type: 'Warning',
          reason: r.outcome === 'missing' ? 'WorkloadMissing' : 'WorkloadRestartFailed',
          action: 'Restart',
          note: `${r.kind} ${r.name}: ${r.message ?? r.outcome}`,
        });
      }
    }
    return results.some((r) => r.outcome === 'failed');
  }

  /** Deletion: revoke every version in Vault, then let the policy (and its Secret) go. */
  private async finalize(
    policy: TokenPolicy,
    identity: PolicyIdentity,
    log: Logger,
  ): Promise<ReconcileResult> {
    if (!(policy.metadata?.finalizers ?? []).includes(FINALIZER)) return {};
    const ref = {
      kind: policy.spec.issuerRef.kind ?? 'ClusterTokenIssuer',
      name: policy.spec.issuerRef.name,
    };
    const key = { namespace: identity.namespace, name: identity.name };
    let issuer: ResolvedIssuer | undefined;
    try {
      issuer = await this.deps.issuers.resolve(ref, key);
    } catch (err) {
      // With its issuer gone there is nothing tokensmith can revoke through; do not block deletion forever.
      if (!isTokensmithError(err, 'IssuerNotFound')) throw err;
      log.warn({ issuer: ref.name }, 'issuer gone; deleting the policy without revoking its tokens');
    }
    let revoked = issuer === undefined;
    for (let attempt = 0; issuer && attempt < 5; attempt++) {
      const stored = await issuer.store.read(key);
      if (!stored || stored.value.policy.uid !== identity.uid) {
        revoked = true;
        break;
      }
      try {
        const revokedAll = withAllRevoked(stored.value, this.deps.clock.now(), 'PolicyDeleted');
        await issuer.store.write(key, revokedAll, stored.casVersion);
        await dropFromIndex(issuer, newlyRevokedHashes(stored.value, revokedAll));
        const count = stored.value.versions.filter((v) => v.state !== 'revoked').length;
        this.deps.events.record(policy, {
          type: 'Normal',
          reason: 'Revoked',
          action: 'Delete',
          note: `revoked ${count} token version(s) before deletion`,
        });
        revoked = true;
        break;
      } catch (err) {
        if (!isTokensmithError(err, 'VaultConflict')) throw err;
      }
    }
    // Never let the policy go while its tokens may still be valid: retry with backoff instead.
    if (!revoked) {
      throw new TokensmithError(
        'VaultConflict',
        'could not revoke the tokens before deletion (the record kept changing); will retry',
      );
    }
    await this.deps.writer.setFinalizer(policy, false);
    return {};
  }

  private async writeStatus(
    policy: TokenPolicy,
    record: PolicyTokenRecord | undefined | 'unknown',
    settings: PolicySettings | undefined,
    nextScheduledAt: Date | undefined,
    outcome: ReadyOutcome,
  ): Promise<void> {
    const status = policyStatus({
      nextScheduledAt,
      previous: policy.status,
      generation: policy.metadata?.generation,
      now: this.deps.clock.now(),
      record,
      renewBeforeMs: settings?.renewBeforeMs,
      overlapMs: settings?.overlapMs,
      outcome,
    });
    await this.deps.writer.applyStatus(policy, status);
  }
}

/** The Event for a step a person wants to know about; undefined for internal steps. */
function eventFor(
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

export const POLICY_API = { apiVersion: API_VERSION, kind: KIND.tokenPolicy } as const;

/**
 * Removes revoked tokens' entries from the issuer's lookup index, after the record that revokes
 * them is written: a crash in between leaves an entry that points at a revoked version (still
 * answered as revoked) until the next prune.
 */
async function dropFromIndex(issuer: ResolvedIssuer, hashes: readonly string[]): Promise<void> {
  for (const hash of hashes) await issuer.store.deleteIndex(hash);
}

/** The guardrail the policy's spec violates, as the error that blocks minting; undefined if none. */
function guardrailViolation(
  key: ObjectKey,
  policy: TokenPolicy,
  settings: PolicySettings,
  issuer: ResolvedIssuer,
): TokensmithError | undefined {
  const violation = checkGuardrails({
    policy: key,
    audiences: settings.shape.jwt?.audience ?? [],
    scopes: settings.shape.scopes,
    ttl: policy.spec.token.ttl,
    ...(settings.shape.refresh ? { refreshTtl: formatDuration(settings.shape.refresh.ttlMs) } : {}),
    ...(settings.shape.jwt
      ? { subject: settings.shape.jwt.subject, claimNames: Object.keys(settings.shape.jwt.claims) }
      : {}),
    allowed: issuer.allowed,
  });
  return violation
    ? new TokensmithError('GuardrailViolated', `${violation.message} (guardrail ${violation.guardrail})`)
    : undefined;
}
