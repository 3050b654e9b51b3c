/**
 * The token lifecycle of one policy as a pure decision: given what Vault records, what the Secret
 * holds and the time, which single step comes next. The reconciler executes the step, re-reads
 * and asks again until nothing is left to do, so a crash between any two steps resumes at the
 * right place (invariants 1–4 of DESIGN.md):
 *
 *   mint     record a new version in Vault (the token exists nowhere else yet), together with
 *            the requests (schedule, annotations) it satisfies. A routine rotation records it
 *            as current and active at once, the previous one retiring (its overlap starts now);
 *            a replacement after a compromise is recorded `pending`
 *   publish  write the new version to the Secret (only ever a version Vault recorded); no
 *            retiring version is revoked before the Secret holds its successor
 *   activate (pending versions only) mark it active and revoke what it replaces
 *   sync     restore a Secret that drifted from the active version
 *   revoke   end versions whose overlap is over, and abandoned pending versions
 *   prune    forget revoked/expired versions beyond historyLimit
 *
 * A JWT signed by a key its issuer reports compromised (a leaked signing key) no longer verifies:
 * retiring versions that carry such a kid are revoked at once, and an active one is replaced with
 * no overlap (mint reason KeyCompromised). The decision is level-based, so the policy keeps
 * re-minting until no active or retiring version carries a compromised kid.
 *
 * With spec.onSuspiciousUse=revoke, a version whose refresh token was replayed (core/grants.ts) is
 * handled the same way (mint reason SuspiciousUse).
 *
 * Revocation never waits for minting. When no token may be minted now (`mintBlocked`: a guardrail
 * the spec violates, an issuer that is not ready, a namespace the issuer no longer serves), every
 * step that needs no new token still runs: a revoke request revokes the versions it names at once
 * (there is no replacement to publish first), a version signed by a leaked key is revoked, the
 * Secret is cleared of a token that is no longer valid (`clear`), overlaps end, and old versions
 * are pruned. The mint that is wanted is reported in `none.blockedMint`.
 */
import type { HandledRequests, PolicyTokenRecord, TokenVersionRecord } from './records.ts';

export type MintReason =
  | 'Initial'
  | 'Renewal'
  | 'Expired'
  | 'SpecChanged'
  | 'Scheduled'
  | 'Requested'
  | 'Compromised'
  | 'KeyCompromised'
  | 'SuspiciousUse'
  | 'Revoked';

export type RevokeScope = 'current' | 'previous' | 'all';

/**
 * Requests not acted on yet (the reconciler compares them with the record's `handled`): a
 * schedule fire time that is due, and new values of the rotate and revoke annotations.
 */
export interface PendingRequests {
  /** ISO time of the latest due schedule fire time. */
  scheduledAt?: string;
  rotate?: string;
  revoke?: { value: string; scope: RevokeScope };
}

export type PlanStep =
  | { kind: 'mint'; reason: MintReason; handles: HandledRequests; onActivate?: 'revokeCurrent' | 'revokeAll' }
  | { kind: 'publish'; version: number }
  | {
      kind: 'activate';
      version: number;
      /** A compromise reported while this version was in flight: revoke the older ones at once. */
      onActivate?: 'revokeCurrent' | 'revokeAll';
      handles?: HandledRequests;
    }
  | { kind: 'sync'; version: number }
  | {
      kind: 'revoke';
      versions: number[];
      reason: 'OverlapEnded' | 'Abandoned' | 'Expired' | 'Compromised' | 'KeyCompromised';
      handles?: HandledRequests;
    }
  | { kind: 'prune'; versions: number[] }
  /** The Secret holds a token that is no longer valid and no replacement can be minted: remove it. */
  | { kind: 'clear' }
  | { kind: 'none'; nextCheckAt?: Date; blockedMint?: MintReason };

export interface PlanInput {
  now: Date;
  record: PolicyTokenRecord | undefined;
  /** sha256 hex of the token in the Secret, or undefined when the Secret or key is missing. */
  secretTokenHash: string | undefined;
  /** True when the Secret holds exactly what the active version should put there. */
  secretInSync: boolean;
  /** The version the policy's status last reported as current (status.currentVersion). */
  reportedVersion?: number;
  specHash: string;
  renewBeforeMs: number;
  overlapMs: number;
  historyLimit: number;
  requests: PendingRequests;
  /** When the schedule fires next (after the last one handled), for the requeue time. */
  nextScheduledAt?: Date;
  /** Kids of the issuer's signing keys reported compromised: JWTs they signed must go at once. */
  compromisedKids?: ReadonlySet<string>;
  /** No token may be minted now; every other step still runs. Default false. */
  mintBlocked?: boolean;
  /** spec.onSuspiciousUse is revoke: a version whose refresh token was replayed is replaced at once. */
  revokeOnSuspiciousUse?: boolean;
}

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/** The version the Secret should hold: the current one, if it is active. */
export function activeVersion(record: PolicyTokenRecord | undefined): TokenVersionRecord | undefined {
  return record?.versions.find((v) => v.version === record.currentVersion && v.state === 'active');
}

/** When the active version is due for renewal. */
export function renewalDueAt(version: TokenVersionRecord, renewBeforeMs: number): Date {
  return new Date(ms(version.expiresAt) - renewBeforeMs);
}

/** True when `version` is a JWT signed by a key the issuer reports compromised. */
function signedByCompromisedKey(input: PlanInput, version: TokenVersionRecord): boolean {
  return version.kid !== undefined && input.compromisedKids?.has(version.kid) === true;
}

function pendingStep(input: PlanInput, pending: TokenVersionRecord): PlanStep {
  const now = input.now.getTime();
  // Published before a crash: finish the rotation (a compromised kid is replaced next).
  if (input.secretTokenHash === pending.tokenHash) {
    // A compromise reported meanwhile is handled by this activation: the current version must not
    // get an overlap, and the version in flight is its replacement.
    const revoke = input.requests.revoke;
    if (revoke && revoke.scope !== 'previous') {
      return {
        kind: 'activate',
        version: pending.version,
        onActivate: revoke.scope === 'all' ? 'revokeAll' : 'revokeCurrent',
        handles: { revoke: revoke.value },
      };
    }
    return { kind: 'activate', version: pending.version };
  }
  if (signedByCompromisedKey(input, pending)) {
    return { kind: 'revoke', versions: [pending.version], reason: 'KeyCompromised' };
  }
  // Not published yet, and minting is blocked (say, a guardrail narrowed after it was minted): the
  // version in flight would not be minted now, so it is not published either.
  if (ms(pending.expiresAt) > now && pending.specHash === input.specHash && !input.mintBlocked) {
    return { kind: 'publish', version: pending.version };
  }
  return { kind: 'revoke', versions: [pending.version], reason: 'Abandoned' };
}

function mintReason(input: PlanInput, active: TokenVersionRecord | undefined): MintReason | undefined {
  if (!input.record || input.record.lastVersion === 0) return 'Initial';
  if (!active) {
    const current = input.record.versions.find((v) => v.version === input.record?.currentVersion);
    return current?.state === 'revoked' ? 'Revoked' : 'Expired';
  }
  const now = input.now.getTime();
  if (ms(active.expiresAt) <= now) return 'Expired';
  if (active.specHash !== input.specHash) return 'SpecChanged';
  if (input.requests.rotate !== undefined) return 'Requested';
  if (input.requests.scheduledAt !== undefined) return 'Scheduled';
  if (renewalDueAt(active, input.renewBeforeMs).getTime() <= now) return 'Renewal';
  return undefined;
}

/** Every outstanding request that a rotation now satisfies: one rotation for all of them. */
function handledBy(requests: PendingRequests): HandledRequests {
  return {
    ...(requests.scheduledAt === undefined ? {} : { schedule: requests.scheduledAt }),
    ...(requests.rotate === undefined ? {} : { rotate: requests.rotate }),
    ...(requests.revoke === undefined ? {} : { revoke: requests.revoke.value }),
  };
}

/**
 * A compromise: replace the current token and revoke it (and for `all`, the retiring ones) as
 * soon as the replacement is published; for `previous`, revoke the retiring ones now.
 */
function revocationStep(input: PlanInput, active: TokenVersionRecord | undefined): PlanStep | undefined {
  const request = input.requests.revoke;
  if (!request) return undefined;
  if (request.scope === 'previous') {
    const retiring = input.record?.versions.filter((v) => v.state === 'retiring').map((v) => v.version) ?? [];
    return { kind: 'revoke', versions: retiring, reason: 'Compromised', handles: { revoke: request.value } };
  }
  if (!active) return undefined; // the mint that follows handles it
  if (input.mintBlocked) {
    // No replacement can be minted: revoke at once rather than wait for one.
    const versions = (input.record?.versions ?? [])
      .filter((v) => v.version === active.version || (request.scope === 'all' && v.state === 'retiring'))
      .map((v) => v.version);
    return { kind: 'revoke', versions, reason: 'Compromised', handles: handledBy(input.requests) };
  }
  return {
    kind: 'mint',
    reason: 'Compromised',
    handles: handledBy(input.requests),
    onActivate: request.scope === 'all' ? 'revokeAll' : 'revokeCurrent',
  };
}

/**
 * A leaked signing key: retiring versions it signed are revoked now, then an active one is
 * replaced and revoked as soon as the replacement is published (no overlap: it no longer
 * verifies). One replacement satisfies every outstanding request too.
 */
function keyCompromiseStep(input: PlanInput, active: TokenVersionRecord | undefined): PlanStep | undefined {
  if (!input.compromisedKids || input.compromisedKids.size === 0) return undefined;
  const retiring = (input.record?.versions ?? [])
    .filter((v) => v.state === 'retiring' && signedByCompromisedKey(input, v))
    .map((v) => v.version);
  if (retiring.length > 0) return { kind: 'revoke', versions: retiring, reason: 'KeyCompromised' };
  if (!active || !signedByCompromisedKey(input, active)) return undefined;
  if (input.mintBlocked) return { kind: 'revoke', versions: [active.version], reason: 'KeyCompromised' };
  return {
    kind: 'mint',
    reason: 'KeyCompromised',
    handles: handledBy(input.requests),
    onActivate: 'revokeCurrent',
  };
}

/** A version whose grant was revoked because its refresh token was replayed. */
const replayed = (v: TokenVersionRecord) => v.grant?.revokeReason === 'RefreshTokenReplayed';

/**
 * spec.onSuspiciousUse=revoke and a refresh token of a live version was replayed (someone else
 * holds a copy of what the Secret held): retiring such versions are revoked now, and an active one
 * is replaced and revoked as soon as the replacement is published (mint reason SuspiciousUse).
 */
function suspiciousUseStep(input: PlanInput, active: TokenVersionRecord | undefined): PlanStep | undefined {
  if (!input.revokeOnSuspiciousUse) return undefined;
  const retiring = (input.record?.versions ?? [])
    .filter((v) => v.state === 'retiring' && replayed(v))
    .map((v) => v.version);
  if (retiring.length > 0) return { kind: 'revoke', versions: retiring, reason: 'Compromised' };
  if (!active || !replayed(active)) return undefined;
  if (input.mintBlocked) return { kind: 'revoke', versions: [active.version], reason: 'Compromised' };
  return {
    kind: 'mint',
    reason: 'SuspiciousUse',
    handles: handledBy(input.requests),
    onActivate: 'revokeCurrent',
  };
}

/** Versions to revoke now: retiring ones whose overlap is over, and any past their expiry. */
function dueRevocations(input: PlanInput): PlanStep | undefined {
  const now = input.now.getTime();
  const retiring = input.record?.versions.filter((v) => v.state === 'retiring') ?? [];
  const overlapEnded = retiring
    .filter((v) => ms(v.retiringSince) + input.overlapMs <= now)
    .map((v) => v.version);
  if (overlapEnded.length > 0) return { kind: 'revoke', versions: overlapEnded, reason: 'OverlapEnded' };
  return undefined;
}

/** Revoked or expired versions beyond historyLimit, oldest first; never the current one. */
function prunable(input: PlanInput): number[] {
  const record = input.record;
  if (!record) return [];
  const now = input.now.getTime();
  const finished = record.versions.filter(
    (v) => v.version !== record.currentVersion && (v.state === 'revoked' || ms(v.expiresAt) <= now),
  );
  const excess = record.versions.length - input.historyLimit;
  return finished
    .sort((a, b) => a.version - b.version)
    .slice(0, Math.max(0, excess))
    .map((v) => v.version);
}

/** When something will next be due if nothing changes. */
function nextCheck(input: PlanInput, active: TokenVersionRecord | undefined): Date | undefined {
  const times: number[] = [];
  if (active) times.push(renewalDueAt(active, input.renewBeforeMs).getTime(), ms(active.expiresAt));
  for (const v of input.record?.versions ?? []) {
    if (v.state === 'retiring') times.push(ms(v.retiringSince) + input.overlapMs, ms(v.expiresAt));
  }
  if (input.nextScheduledAt) times.push(input.nextScheduledAt.getTime());
  const future = times.filter((t) => Number.isFinite(t) && t > input.now.getTime());
  return future.length > 0 ? new Date(Math.min(...future)) : undefined;
}

/**
 * True when the active version has not reached the Secret yet after its rotation: the Secret
 * holds a retiring version's token (the one it replaced), or no token at all while the status has
 * never reported this version (a first issuance). Anything else that differs is drift (`sync`).
 */
function publishDue(input: PlanInput, active: TokenVersionRecord): boolean {
  if (input.secretInSync || input.secretTokenHash === active.tokenHash) return false;
  if (input.secretTokenHash === undefined) return (input.reportedVersion ?? 0) < active.version;
  return (input.record?.versions ?? []).some(
    (v) => v.state === 'retiring' && v.tokenHash === input.secretTokenHash && v.version < active.version,
  );
}

/** The next step for a policy's tokens. */
export function planNextStep(input: PlanInput): PlanStep {
  const pending = input.record?.versions.find((v) => v.state === 'pending');
  if (pending) return pendingStep(input, pending);

  const active = activeVersion(input.record);
  // A routine rotation recorded the new version as current at once: the Secret gets it before
  // anything else happens (no retiring version is revoked while the Secret may still hold it).
  if (active && publishDue(input, active)) return { kind: 'publish', version: active.version };
  const revocation =
    revocationStep(input, active) ?? keyCompromiseStep(input, active) ?? suspiciousUseStep(input, active);
  if (revocation) return revocation;
  const reason = mintReason(input, active);
  if (reason && !input.mintBlocked) return { kind: 'mint', reason, handles: handledBy(input.requests) };
  if (active && !input.secretInSync) return { kind: 'sync', version: active.version };
  if (!active && input.secretTokenHash !== undefined) return { kind: 'clear' };

  const overlapEnded = dueRevocations(input);
  if (overlapEnded) return overlapEnded;
  const prune = prunable(input);
  if (prune.length > 0) return { kind: 'prune', versions: prune };

  const at = nextCheck(input, active);
  return {
    kind: 'none',
    ...(at ? { nextCheckAt: at } : {}),
    ...(reason ? { blockedMint: reason } : {}),
  };
}
