/**
 * Usage monitoring: what the verification server sees of each token, per policy and version, and
 * the signals of suspicious use among it. Every introspection and exchange is reported here by
 * its endpoint. Signals:
 *
 *   RevokedTokenPresented   a revoked token (or one of a revoked grant) presented, by whom
 *   ExpiredTokenPresented   an expired one
 *   NotAConsumer            a caller that is not a declared consumer of the policy
 *   RefreshTokenReplayed    a spent refresh token presented again (the token endpoint also revokes
 *                           the grant and records its own Event at once)
 *   RetiringTokenPresented  a retiring token still presented in the last quarter of its overlap: a
 *                           consumer that did not pick up the new token, named before the old one
 *                           is revoked
 *   UnknownTokenBurst       a caller presenting many tokens tokensmith never issued (guessing);
 *                           on the issuer, since such tokens belong to no policy
 *
 * Each signal is counted at once (tokensmith_usage_signals_total) and logged as an audit line;
 * the Warning Events are aggregated: one per object and signal every flush (10 s), naming the
 * callers and counts. Live presentations are summed per version, and written to the policy's
 * `status.usage` (this replica's entries, under a field manager of its own, so replicas never
 * overwrite each other's) at most once per flush. Nothing here ever sees a token: fingerprints,
 * versions and caller names only.
 */
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import type { TokenVersionRecord } from '../core/records.ts';
import type { EventSink } from '../controllers/tokenPolicy/ports.ts';
import { safeErrorFields } from '../errors.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { Logger } from '../log.ts';
import type { Metrics, UsageSignal } from '../metrics/metrics.ts';
import type { Clock } from '../ports.ts';

/** How often aggregated Events and status usage are written. */
export const USAGE_FLUSH_MS = 10_000;
/** A retiring token presented in this last fraction of its overlap is a stale consumer. */
export const LATE_OVERLAP_FRACTION = 0.25;
/** Unknown tokens from one caller within one flush that make a guessing burst. */
export const UNKNOWN_BURST = 20;
/**
 * Policies whose status.usage one flush writes at most: the rest stay due for the next flush, so
 * usage costs the API server at most this many writes per flush per replica however many policies
 * are in use (their statuses then trail by a few flushes).
 */
export const USAGE_WRITES_PER_FLUSH = 50;
/** Callers named per version in status (most recent). */
const CALLERS_SHOWN = 5;
/** Objects tracked at once (the rest are counted, not aggregated into Events). */
const MAX_TRACKED = 10_000;

/** What status.usage shows for one version, as seen by one replica. */
export interface VersionUsage {
  version: number;
  replica: string;
  lastPresentedAt: string;
  presentations: number;
  callers: string[];
}

type EventTarget = {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; uid?: string };
};

export interface UsageDeps {
  clock: Clock;
  log: Logger;
  events: EventSink;
  metrics: Metrics;
  /** This replica's name (its entries in status.usage). */
  replica: string;
  /** Applies this replica's usage entries to the policy's status. */
  writeUsage(policy: TokenPolicy, usage: VersionUsage[]): Promise<void>;
  /** The policy from the caches (for the status write), by namespace/name. */
  policy(namespace: string, name: string): TokenPolicy | undefined;
  /** How often Events and status are written; default USAGE_FLUSH_MS. */
  flushMs?: number;
}

interface Pending {
  target: EventTarget;
  signal: UsageSignal;
  count: number;
  /** count per caller */
  callers: Map<string, number>;
  fingerprints: Set<string>;
}

export class UsageMonitor {
  private readonly deps: UsageDeps;
  private readonly pending = new Map<string, Pending>();
  /** policy key → version → usage */
  private readonly usage = new Map<string, Map<number, VersionUsage>>();
  private readonly dirty = new Set<string>();
  private readonly unknown = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(deps: UsageDeps) {
    this.deps = deps;
  }

  start(): void {
    this.timer = setInterval(() => {
      void this.flush();
    }, this.deps.flushMs ?? USAGE_FLUSH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /**
   * A live token of `policy` presented by `caller`: counted for status, and a stale consumer when
   * it is retiring and in the last part of its overlap (`overlapMs`).
   */
  presented(
    policy: TokenPolicy,
    version: TokenVersionRecord,
    caller: string,
    fingerprint: string,
    overlapMs: number,
  ): void {
    const key = `${policy.metadata?.namespace ?? ''}/${policy.metadata?.name ?? ''}`;
    const now = this.deps.clock.now();
    let versions = this.usage.get(key);
    if (!versions) {
      if (this.usage.size >= MAX_TRACKED) return;
      this.usage.set(key, (versions = new Map<number, VersionUsage>()));
    }
    const seen = versions.get(version.version) ?? {
      version: version.version,
      replica: this.deps.replica,
      lastPresentedAt: now.toISOString(),
      presentations: 0,
      callers: [],
    };
    seen.presentations += 1;
    seen.lastPresentedAt = now.toISOString();
    seen.callers = [caller, ...seen.callers.filter((c) => c !== caller)].slice(0, CALLERS_SHOWN);
    versions.set(version.version, seen);
    this.dirty.add(key);
    if (version.state === 'retiring' && version.retiringSince && overlapMs > 0) {
      const end = Date.parse(version.retiringSince) + overlapMs;
      if (now.getTime() >= end - overlapMs * LATE_OVERLAP_FRACTION) {
        this.signal(policy, 'RetiringTokenPresented', caller, fingerprint, version.version);
      }
    }
  }

  /** A caller presented a token tokensmith does not know, at `issuer`'s endpoint. */
  unknownToken(issuer: AnyIssuer, caller: string): void {
    const key = `${issuer.metadata?.uid ?? ''}/${caller}`;
    const count = (this.unknown.get(key) ?? 0) + 1;
    if (this.unknown.size < MAX_TRACKED || this.unknown.has(key)) this.unknown.set(key, count);
    if (count === UNKNOWN_BURST) this.signal(issuer, 'UnknownTokenBurst', caller);
  }

  /** A signal about `target` (a policy, or an issuer for unknown tokens): counted, logged, aggregated. */
  signal(
    target: EventTarget,
    signal: UsageSignal,
    caller: string,
    fingerprint?: string,
    version?: number,
  ): void {
    const namespace = target.metadata?.namespace ?? '';
    const name = target.metadata?.name ?? '';
    this.deps.metrics.usageSignals.inc({ signal, namespace, name });
    this.deps.log.warn(
      {
        audit: 'usage',
        signal,
        caller,
        [target.kind === 'TokenPolicy' ? 'policy' : 'issuer']: namespace ? `${namespace}/${name}` : name,
        ...(fingerprint ? { fingerprint } : {}),
        ...(version === undefined ? {} : { version }),
      },
      'suspicious token use',
    );
    // The token endpoint records its own Event for a replay, at once, with what it revoked.
    if (signal === 'RefreshTokenReplayed') return;
    const key = `${target.kind}/${namespace}/${name}/${signal}`;
    let pending = this.pending.get(key);
    if (!pending) {
      if (this.pending.size >= MAX_TRACKED) return;
      pending = { target, signal, count: 0, callers: new Map(), fingerprints: new Set() };
      this.pending.set(key, pending);
    }
    pending.count += 1;
    pending.callers.set(caller, (pending.callers.get(caller) ?? 0) + 1);
    if (fingerprint && pending.fingerprints.size < 5) {
      pending.fingerprints.add(version === undefined ? fingerprint : `${fingerprint} (version ${version})`);
    }
  }

  /** Writes the aggregated Events and the changed status usage (one flush at a time). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow());
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.unknown.clear();
    for (const p of pending) {
      const callers = [...p.callers].map(([c, n]) => `${c} (${n})`).join(', ');
      const prints = p.fingerprints.size > 0 ? `; tokens ${[...p.fingerprints].join(', ')}` : '';
      this.deps.events.record(p.target, {
        type: 'Warning',
        reason: p.signal,
        action: 'MonitorUsage',
        note: `${describe(p.signal)}: ${p.count} time${p.count === 1 ? '' : 's'} in the last ${(this.deps.flushMs ?? USAGE_FLUSH_MS) / 1000}s, by ${callers}${prints}`,
      });
    }
    const dirty = [...this.dirty].slice(0, USAGE_WRITES_PER_FLUSH);
    for (const key of dirty) this.dirty.delete(key);
    for (const key of dirty) {
      const [namespace = '', name = ''] = key.split('/');
      const policy = this.deps.policy(namespace, name);
      const versions = this.usage.get(key);
      if (!policy || !versions) {
        this.usage.delete(key);
        continue;
      }
      try {
        await this.deps.writeUsage(
          policy,
          [...versions.values()].sort((a, b) => b.version - a.version),
        );
      } catch (err) {
        this.dirty.add(key);
        this.deps.log.warn({ err: safeErrorFields(err), policy: key }, 'usage: the status write failed');
      }
    }
  }
}

function describe(signal: UsageSignal): string {
  switch (signal) {
    case 'RevokedTokenPresented':
      return 'a revoked token was presented';
    case 'ExpiredTokenPresented':
      return 'an expired token was presented';
    case 'NotAConsumer':
      return 'a caller that is not a consumer of this policy (spec.consumers) presented its token';
    case 'RefreshTokenReplayed':
      return 'a spent refresh token was presented again';
    case 'RetiringTokenPresented':
      return 'a retiring token was presented in the last quarter of its overlap: this consumer has not picked up the new token';
    case 'UnknownTokenBurst':
      return `a caller presented ${UNKNOWN_BURST} or more tokens this issuer never issued`;
  }
}
