/**
 * Signing-key rotation of an issuer, decided as a pure function of the key versions Vault holds,
 * the issuer's `signing.rotation` settings, the `tokensmith.dev/rotate-key` request, the durable
 * record of the last rotation tokensmith made, and `now`. This is the issuer's own lifecycle, kept
 * apart from token rotation (plan.ts): a new version is published in the JWKS at once but signs
 * only `publishAhead` after it was made (one JWKS cache lifetime of the verifiers), so no verifier
 * that caches the JWKS meets a kid it does not know; the version before it signs until then, stays
 * in the JWKS, verify-only, for `verifyFor` after that, then it is retired.
 *
 * A leaked key (`tokensmith.dev/rotate-key=leaked[:anything]`) is rotated the same way, but every
 * version that verified until then is recorded as compromised and retired at once, with no
 * verify-only period: anyone may hold its private key. Versions leave oldest first (Vault's transit
 * engine can only cut from below), so the leaked signer takes every older version with it.
 *
 * The triggers are named functions tried in order (cert-manager's policies.go shape); the first
 * that fires gives the reason. One rotation satisfies every trigger that is due at once.
 */
import { signingKeyOf } from './keySigner.ts';

/** Why a new signing key version is made. Compromised: a leaked-key request. */
export type KeyRotationReason = 'Scheduled' | 'Requested' | 'Compromised';

/** The first word of a rotate-key value that reports a leaked key: `leaked` or `leaked:anything`. */
export const LEAKED_REQUEST = 'leaked';

/** True for a rotate-key value that reports a leaked key (`leaked`, `leaked:anything`). */
export function isLeakedRequest(value: string | undefined): boolean {
  return value?.split(':')[0]?.trim() === LEAKED_REQUEST;
}

/** A key version recorded as compromised, durably (in Vault) before the rotation that replaces it. */
export interface CompromisedKey {
  kid: string;
  version: number;
  /** When it was recorded, by tokensmith's clock (RFC 3339): from then on it does not verify. */
  at: string;
}

/** How many compromised keys the durable state keeps (newest): far more than can matter at once. */
export const COMPROMISED_KEYS_KEPT = 20;

/** `existing` with `added` appended (a kid once only), bounded to the newest COMPROMISED_KEYS_KEPT. */
export function withCompromised(
  existing: readonly CompromisedKey[] | undefined,
  added: readonly CompromisedKey[],
): CompromisedKey[] {
  const known = new Set((existing ?? []).map((c) => c.kid));
  const merged = [...(existing ?? []), ...added.filter((c) => !known.has(c.kid))];
  return merged.slice(-COMPROMISED_KEYS_KEPT);
}

/**
 * Where a key version is in its life: published (in the JWKS, signing from `signsAt`), active (signs
 * new tokens), verify-only (in the JWKS for tokens it signed), retired (out of the JWKS).
 */
export type KeyState = 'published' | 'active' | 'verify-only' | 'retired';

/** The facts of one key version the decision needs (SigningKeyInfo has them). */
export interface KeyVersionFacts {
  version: number;
  kid: string;
  /** When the backend created the version (RFC 3339). */
  createdAt: string;
}

/** A rotation tokensmith recorded durably (in Vault) before making it. */
export interface RotationClaim {
  /** The kid that was newest, and signing, when the rotation was claimed. */
  fromKid: string;
  reason: KeyRotationReason;
  /** When it was claimed, by tokensmith's clock (RFC 3339). */
  at: string;
}

/** Everything the decision looks at. */
export interface KeyRotationInput {
  now: Date;
  /** The versions that still verify, in any order; the highest version signs. */
  keys: readonly KeyVersionFacts[];
  /** spec.signing.rotation.every, in ms. */
  everyMs: number;
  /** spec.signing.rotation.verifyFor, in ms. */
  verifyForMs: number;
  /** spec.signing.rotation.publishAhead, in ms (0: a new version signs at once). */
  publishAheadMs?: number;
  /** The rotate-key annotation's value; undefined or blank means no request. */
  requested?: string | undefined;
  /** The annotation value last acted on, from durable state. */
  handled?: string | undefined;
  /** The last rotation claimed, from durable state (written before each rotation). */
  claim?: RotationClaim | undefined;
  /** The key versions recorded as compromised, from durable state. */
  compromised?: readonly CompromisedKey[] | undefined;
  /**
   * True when the issuer's first key was made in this reconcile: a pending request is satisfied
   * by that brand-new key instead of rotating it at once (e.g. a manifest re-applied with the
   * annotation still set).
   */
  firstKey?: boolean;
}

/** One version's state, as the issuer status shows it. */
export interface KeyVersionState {
  version: number;
  kid: string;
  createdAt: string;
  state: KeyState;
  /** For a published version: when it starts to sign. */
  signsAt?: Date;
  /** For a version that no longer signs: when it leaves (or left) the JWKS. */
  retireAt?: Date;
  /** Recorded as compromised: it left the JWKS at once. */
  compromised?: true;
}

/** What to do now, and what the keys look like. */
export interface KeyRotationDecision {
  /** Make a new version now; `resumed` when it completes a claim a crash interrupted. */
  rotate?: { reason: KeyRotationReason; resumed: boolean };
  /**
   * The annotation value to record as handled, durably and before rotating (set whenever a new
   * value is present, also when no rotation follows from it).
   */
  handle?: string;
  /**
   * For a leaked-key rotation: the versions to record as compromised, durably and before rotating
   * (every version that verifies now, signer included).
   */
  compromise?: CompromisedKey[];
  /**
   * Retire every version below this one: the oldest versions whose verify window has ended, and
   * every version up to the newest compromised one that no longer signs.
   */
  retireBelow?: number;
  /** Each version's state, newest first; the ones retireBelow removes read `retired`. */
  keys: KeyVersionState[];
  /** When the signing version is due to be replaced (undefined when there is no key). */
  nextRotationAt?: Date;
  /** The earliest future time something is due (rotation or retirement), for the requeue. */
  nextDueAt?: Date;
}

type Rotation = NonNullable<KeyRotationDecision['rotate']>;
type Trigger = (input: KeyRotationInput, newest: KeyVersionFacts) => Rotation | undefined;

const ms = (iso: string): number => {
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? 0 : t;
};

/** A request value that is present and not blank. */
function requestValue(input: KeyRotationInput): string | undefined {
  const value = input.requested?.trim();
  return value ? input.requested : undefined;
}

/** A rotate-key value that was not acted on yet (one rotation per value); `leaked…` compromises. */
const requestedByAnnotation: Trigger = (input) => {
  const value = requestValue(input);
  if (value === undefined || value === input.handled || input.firstKey) return undefined;
  return { reason: isLeakedRequest(value) ? 'Compromised' : 'Requested', resumed: false };
};

/** A rotation recorded as claimed whose new key was never made (a crash came in between). */
const interruptedClaim: Trigger = (input, newest) =>
  input.claim?.fromKid === newest.kid ? { reason: input.claim.reason, resumed: true } : undefined;

/** A compromised version still signs (its recorded rotation was never made): replace it. */
const signerCompromised: Trigger = (input, newest) =>
  input.compromised?.some((c) => c.kid === newest.kid) ? { reason: 'Compromised', resumed: true } : undefined;

/** The signing version is older than `every`. */
const scheduleDue: Trigger = (input, newest) =>
  rotationDueAt(input, newest) <= input.now.getTime() ? { reason: 'Scheduled', resumed: false } : undefined;

const TRIGGERS: readonly Trigger[] = [
  requestedByAnnotation,
  interruptedClaim,
  signerCompromised,
  scheduleDue,
];

/**
 * When the newest version is due to be replaced: `every` after it was made. The last claimed
 * rotation's time (tokensmith's clock) is a floor, so a Vault clock that runs behind tokensmith's
 * cannot make a fresh key look old and cause one rotation after another.
 */
function rotationDueAt(input: KeyRotationInput, newest: KeyVersionFacts): number {
  const claimedAt = input.claim && input.claim.fromKid !== newest.kid ? ms(input.claim.at) : 0;
  return Math.max(ms(newest.createdAt), claimedAt) + input.everyMs;
}

/** Decides rotation and retirement of an issuer's signing key versions. */
export function decideKeyRotation(input: KeyRotationInput): KeyRotationDecision {
  const sorted = [...input.keys].sort((a, b) => a.version - b.version);
  const newest = sorted.at(-1);
  const value = requestValue(input);
  const handle = value !== undefined && value !== input.handled ? value : undefined;
  if (newest === undefined) return { keys: [], ...(handle === undefined ? {} : { handle }) };

  let rotate: Rotation | undefined;
  for (const trigger of TRIGGERS) {
    rotate = trigger(input, newest);
    if (rotate) break;
  }

  const now = input.now.getTime();
  const compromisedAt = new Map((input.compromised ?? []).map((c) => [c.kid, ms(c.at)]));
  const publishAheadMs = input.publishAheadMs ?? 0;
  // When a version was made: by Vault's clock, and no earlier than tokensmith's claim of the
  // rotation that made it (so a Vault clock behind tokensmith's cannot make it sign early).
  const madeAt = sorted.map((k, i) => {
    const before = sorted[i - 1];
    const claimedAt = before !== undefined && input.claim?.fromKid === before.kid ? ms(input.claim.at) : 0;
    return Math.max(ms(k.createdAt), claimedAt);
  });
  const signsFromOf = new Map(sorted.map((k, i) => [k.version, (madeAt[i] ?? 0) + publishAheadMs]));
  // A version stops signing when the next one starts; it verifies for verifyFor after that —
  // unless it was compromised, which ends its window when that was recorded.
  const retireAts = sorted.map((k, i) => {
    const next = sorted[i + 1];
    if (next === undefined) return undefined;
    const windowEnd = (signsFromOf.get(next.version) ?? 0) + input.verifyForMs;
    return Math.min(windowEnd, compromisedAt.get(k.kid) ?? Infinity);
  });
  // Only the oldest run of ended windows is retired, so no version ever leaves early…
  let firstKept = 0;
  while (firstKept < sorted.length - 1 && (retireAts[firstKept] ?? Infinity) <= now) firstKept += 1;
  // …except below a compromised version that no longer signs: versions leave oldest first.
  const lastCompromised = sorted.findLastIndex((k, i) => i < sorted.length - 1 && compromisedAt.has(k.kid));
  firstKept = Math.max(firstKept, lastCompromised + 1);
  const retireBelow = firstKept > 0 ? sorted[firstKept]?.version : undefined;
  // Every version compromised: the newest still reads active until its rotation is made (no token
  // is signed with it meanwhile: the signing path skips compromised kids).
  const signer =
    signingKeyOf(sorted.slice(firstKept), {
      now: input.now,
      signsFrom: (k) => signsFromOf.get(k.version) ?? 0,
      compromisedKids: new Set(compromisedAt.keys()),
    }) ?? newest;

  const keys: KeyVersionState[] = sorted
    .map((k, i): KeyVersionState => {
      const windowEnd = retireAts[i];
      const state: KeyState =
        i < firstKept
          ? 'retired'
          : k.version === signer.version
            ? 'active'
            : k.version > signer.version
              ? 'published'
              : 'verify-only';
      // A version retired early (below a compromised one) left now, not when its window ends.
      const retireAt = windowEnd !== undefined && state === 'retired' ? Math.min(windowEnd, now) : windowEnd;
      return {
        version: k.version,
        kid: k.kid,
        createdAt: k.createdAt,
        state,
        ...(state === 'published' ? { signsAt: new Date(signsFromOf.get(k.version) ?? 0) } : {}),
        ...(retireAt === undefined || state === 'published' || state === 'active'
          ? {}
          : { retireAt: new Date(retireAt) }),
        ...(compromisedAt.has(k.kid) ? { compromised: true as const } : {}),
      };
    })
    .reverse();

  // A new leaked-key rotation compromises every version that verifies now.
  const compromise =
    rotate?.reason === 'Compromised' && !rotate.resumed
      ? sorted
          .filter((k) => !compromisedAt.has(k.kid))
          .map((k) => ({ kid: k.kid, version: k.version, at: input.now.toISOString() }))
      : undefined;

  const nextRotationAt = rotationDueAt(input, newest);
  const signsAts = keys.flatMap((k) => (k.signsAt ? [k.signsAt.getTime()] : []));
  const upcoming = [
    nextRotationAt,
    ...signsAts,
    ...retireAts.slice(firstKept).filter((t) => t !== undefined),
  ].filter((t) => t > now);
  return {
    ...(rotate ? { rotate } : {}),
    ...(handle === undefined ? {} : { handle }),
    ...(compromise === undefined || compromise.length === 0 ? {} : { compromise }),
    ...(retireBelow === undefined ? {} : { retireBelow }),
    keys,
    nextRotationAt: new Date(nextRotationAt),
    ...(upcoming.length > 0 ? { nextDueAt: new Date(Math.min(...upcoming)) } : {}),
  };
}
