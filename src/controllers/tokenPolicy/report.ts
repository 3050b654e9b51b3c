/**
 * What a reconcile tells people: the status (computed by status.ts from the Vault record) and a
 * Warning Event when it failed. A failure is reported with what Vault holds if it can be read now;
 * else the status keeps what it last showed, so an unreachable Vault does not make the issued
 * version disappear from `kubectl get`.
 */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import type { ReadyOutcome } from '../../core/conditions.ts';
import { activeVersion } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';
import type { PolicySettings } from '../../core/settings.ts';
import { describeFailure, safeErrorFields } from '../../errors.ts';
import type { ResolvedIssuer } from '../../issuers/resolved.ts';
import type { Logger } from '../../log.ts';
import type { Clock, ObjectKey } from '../../ports.ts';
import type { EventSink, PolicyWriter } from './ports.ts';
import {
  READY_REASON,
  deletingStatus,
  policyStatus,
  type DeletingReason,
  type IssuingReason,
  type ReadyReason,
} from './status.ts';

export class PolicyReporter {
  private readonly clock: Clock;
  private readonly writer: PolicyWriter;
  private readonly events: EventSink;

  constructor(deps: { clock: Clock; writer: PolicyWriter; events: EventSink }) {
    this.clock = deps.clock;
    this.writer = deps.writer;
    this.events = deps.events;
  }

  /** Writes the status for `outcome`; a record of 'unknown' keeps the last known version fields. */
  async status(
    policy: TokenPolicy,
    record: PolicyTokenRecord | undefined | 'unknown',
    settings: PolicySettings | undefined,
    outcome: ReadyOutcome & { reason: ReadyReason },
    nextScheduledAt?: Date,
    inFlight?: { version: number; reason: IssuingReason },
  ): Promise<void> {
    await this.writer.applyStatus(
      policy,
      policyStatus({
        previous: policy.status,
        generation: policy.metadata?.generation,
        now: this.clock.now(),
        record,
        renewBeforeMs: settings?.renewBeforeMs,
        nextScheduledAt,
        overlapMs: settings?.overlapMs,
        outcome,
        ...(inFlight ? { inFlight } : {}),
      }),
    );
  }

  /** Ready=True: the active version is in the Secret. */
  async issued(
    policy: TokenPolicy,
    record: PolicyTokenRecord | undefined,
    settings: PolicySettings,
    nextScheduledAt: Date | undefined,
  ): Promise<void> {
    const active = activeVersion(record);
    const message = `token version ${active?.version ?? '?'} (${active?.fingerprint ?? ''}) is in Secret ${settings.secret.name}, valid until ${active?.expiresAt ?? '?'}`;
    await this.status(
      policy,
      record,
      settings,
      { ready: true, reason: READY_REASON.issued, message },
      nextScheduledAt,
    );
  }

  /** Deleting=True (and Ready=False) while the finalizer revokes; never throws. */
  async deleting(
    policy: TokenPolicy,
    deleting: { reason: DeletingReason; message: string },
    log: Logger,
  ): Promise<void> {
    const status = deletingStatus(policy.status, policy.metadata?.generation, this.clock.now(), deleting);
    await this.writer.applyStatus(policy, status).catch((err: unknown) => {
      log.warn({ err: safeErrorFields(err) }, 'status write failed');
    });
  }

  /** A Warning Event and Ready=False saying why `err` happened; never throws. */
  async failure(
    policy: TokenPolicy,
    err: unknown,
    known: {
      record: PolicyTokenRecord | undefined;
      settings?: PolicySettings;
      issuer?: ResolvedIssuer;
      /** The version this reconcile minted and could not publish. */
      inFlight?: { version: number; reason: IssuingReason } | undefined;
    },
    log: Logger,
  ): Promise<void> {
    const { reason, message } = describeFailure(err);
    log.warn({ err: safeErrorFields(err) }, 'reconcile failed');
    this.events.record(policy, { type: 'Warning', reason, action: 'Reconcile', note: message });
    const key: ObjectKey = { namespace: policy.metadata?.namespace ?? '', name: policy.metadata?.name ?? '' };
    let record: PolicyTokenRecord | undefined | 'unknown' = known.record ?? 'unknown';
    if (record === 'unknown' && known.issuer) {
      record = await known.issuer.store.read(key).then(
        (r) => r?.value,
        (): 'unknown' => 'unknown',
      );
    }
    await this.status(
      policy,
      record,
      known.settings,
      { ready: false, reason, message },
      undefined,
      known.inFlight,
    ).catch((statusErr: unknown) => {
      log.warn({ err: safeErrorFields(statusErr) }, 'status write failed');
    });
  }
}
