/**
 * One executor per plan step kind: each does exactly what its step says to Vault or the Secret and
 * returns what it wrote, so the reconciler knows the new state without reading it back. Record
 * writes are check-and-set on the version the step was planned from; a lost race throws
 * VaultConflict and the reconciler re-reads and re-plans.
 */
import type { Metrics } from '../../metrics/metrics.ts';
import type { V1Secret } from '@kubernetes/client-node';
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import type { RandomBytes } from '../../core/opaque.ts';
import { grantHashes } from '../../core/grants.ts';
import type { PlanStep } from '../../core/plan.ts';
import type { PolicyTokenRecord, TokenVersionRecord } from '../../core/records.ts';
import { desiredSecretData, type PolicyIdentity } from '../../core/secretData.ts';
import type { PolicySettings } from '../../core/settings.ts';
import {
  emptyRecord,
  withActivated,
  withHandled,
  withMinted,
  withMintedCurrent,
  withPruned,
  withRevoked,
} from '../../core/transitions.ts';
import { TokensmithError } from '../../errors.ts';
import type { ResolvedIssuer } from '../../issuers/resolved.ts';
import type { Versioned } from '../../ports.ts';
import { mintVersion } from './mint.ts';
import type { SecretPort } from './ports.ts';
import { desiredSecret } from './secret.ts';

export type ExecutableStep = Exclude<PlanStep, { kind: 'none' }>;

/** What a step is executed against: the state it was planned from. */
export interface StepContext {
  policy: TokenPolicy;
  identity: PolicyIdentity;
  settings: PolicySettings;
  issuer: ResolvedIssuer;
  record: PolicyTokenRecord | undefined;
  stored: Versioned<PolicyTokenRecord> | undefined;
  now: Date;
}

/** What a step wrote: the record (with its new CAS version) or the Secret as stored. */
export interface StepResult {
  stored?: Versioned<PolicyTokenRecord>;
  secret?: V1Secret;
}

export class StepExecutor {
  private readonly secrets: SecretPort;
  private readonly random: RandomBytes;
  private readonly metrics: Pick<Metrics, 'rotations' | 'revocations'> | undefined;

  constructor(deps: {
    secrets: SecretPort;
    random: RandomBytes;
    metrics?: Pick<Metrics, 'rotations' | 'revocations'>;
  }) {
    this.secrets = deps.secrets;
    this.random = deps.random;
    this.metrics = deps.metrics;
  }

  execute(step: ExecutableStep, ctx: StepContext): Promise<StepResult> {
    switch (step.kind) {
      case 'mint':
        return this.mint(step, ctx);
      case 'publish':
      case 'sync':
        return this.deliver(step.version, ctx);
      case 'clear':
        // Applied without data, tokensmith's keys leave the Secret: no revoked token stays there.
        return this.applySecret(ctx, {});
      case 'activate':
        return this.writeRecord(
          ctx,
          withHandled(withActivated(recordOf(ctx), step.version, ctx.now, step.onActivate), step.handles),
        );
      case 'revoke':
        return this.writeRecord(
          ctx,
          withHandled(withRevoked(recordOf(ctx), step.versions, ctx.now, step.reason), step.handles),
        );
      case 'prune':
        return this.prune(step.versions, ctx);
    }
  }

  private async mint(step: Extract<PlanStep, { kind: 'mint' }>, ctx: StepContext): Promise<StepResult> {
    const { issuer, identity } = ctx;
    const record = recordOf(ctx);
    const minted = await mintVersion({
      version: record.lastVersion + 1,
      settings: ctx.settings,
      issuer,
      now: ctx.now,
      random: this.random,
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
    const key = { namespace: identity.namespace, name: identity.name };
    await issuer.store.putIndex(minted.tokenHash, { ...key, version: minted.version, kind: 'token' });
    if (minted.refreshTokenHash) {
      await issuer.store.putIndex(minted.refreshTokenHash, {
        ...key,
        version: minted.version,
        kind: 'refreshToken',
      });
    }
    // A routine rotation records the new version as current at once (one write); a replacement
    // after a compromise waits pending until published, then revokes what it replaces.
    return this.writeRecord(
      ctx,
      step.onActivate
        ? withMinted(record, minted, step.handles)
        : withMintedCurrent(record, minted, ctx.now, step.handles),
    );
  }

  private async deliver(version: number, ctx: StepContext): Promise<StepResult> {
    const found = recordOf(ctx).versions.find((v) => v.version === version);
    if (!found) return {};
    return this.applySecret(ctx, desiredSecretData(ctx.settings, found, ctx.record, ctx.now));
  }

  private async applySecret(ctx: StepContext, data: Record<string, string>): Promise<StepResult> {
    return { secret: await this.secrets.apply(desiredSecret(ctx.identity, ctx.settings, data)) };
  }

  private async prune(versions: number[], ctx: StepContext): Promise<StepResult> {
    // A pruned version leaves the index (revoked or expired; deleting a missing entry succeeds).
    const record = recordOf(ctx);
    await dropFromIndex(
      ctx.issuer,
      record.versions.filter((v) => versions.includes(v.version)).flatMap(indexKeys),
    );
    return this.writeRecord(ctx, withPruned(record, versions));
  }

  /**
   * Writes `next` with check-and-set. A revoked version keeps its index entries until it is
   * pruned, so a revoked token that is presented is recognised as such (answered inactive, and a
   * usage signal naming who presented it) rather than as an unknown one.
   */
  private async writeRecord(ctx: StepContext, next: PolicyTokenRecord): Promise<StepResult> {
    const key = { namespace: ctx.identity.namespace, name: ctx.identity.name };
    const casVersion = await ctx.issuer.store.write(key, next, ctx.stored?.casVersion ?? 0);
    this.count(ctx.record, next);
    return { stored: { value: next, casVersion } };
  }

  /** Counts the versions this write activated (a rotation, by mint reason) and revoked. */
  private count(before: PolicyTokenRecord | undefined, after: PolicyTokenRecord): void {
    if (!this.metrics) return;
    const was = new Map((before?.versions ?? []).map((v) => [v.version, v.state]));
    for (const v of after.versions) {
      if (v.state === was.get(v.version)) continue;
      if (v.state === 'active') this.metrics.rotations.inc({ reason: v.mintReason ?? 'Unknown' });
      if (v.state === 'revoked') this.metrics.revocations.inc({ reason: v.revokeReason ?? 'Unknown' });
    }
  }
}

function recordOf(ctx: StepContext): PolicyTokenRecord {
  return ctx.record ?? emptyRecord(ctx.identity, ctx.settings.shape.issuer);
}

/** The lookup-index keys of a version: its token's hash, its refresh token's and its grant's. */
export function indexKeys(v: TokenVersionRecord): string[] {
  return [v.tokenHash, ...(v.refreshTokenHash ? [v.refreshTokenHash] : []), ...grantHashes(v)];
}

/** Removes entries from the issuer's lookup index (deleting a missing one succeeds). */
export async function dropFromIndex(issuer: ResolvedIssuer, hashes: readonly string[]): Promise<void> {
  for (const hash of hashes) await issuer.store.deleteIndex(hash);
}
