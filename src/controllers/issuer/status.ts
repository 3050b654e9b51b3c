/** An issuer's status from its signing keys, their lifecycle and the outcome of a reconcile. */
import type { TokenIssuerStatus } from '../../api/v1alpha1.generated.ts';
import { setReady } from '../../core/conditions.ts';
import type { CompromisedKey, KeyVersionState } from '../../core/keyRotation.ts';
import type { SigningKeyInfo } from '../../ports.ts';

/** Retired keys kept in status.keys (newest first) so people can see what left the JWKS and when. */
export const RETIRED_KEYS_SHOWN = 5;

type StatusKey = NonNullable<TokenIssuerStatus['keys']>[number];

/** What the reconcile learnt about the issuer's signing key. */
export interface IssuerKeysView {
  /** The versions Vault holds, oldest first. */
  keys: SigningKeyInfo[];
  /** Their states from the rotation decision. */
  states: KeyVersionState[];
  /** Versions retired by this reconcile. */
  retired: { key: SigningKeyInfo; retireAt: Date | undefined }[];
  nextKeyRotationAt: Date | undefined;
  /** The rotate-key value handled, durably. */
  handledRotateKey: string | undefined;
  /** The key versions recorded as compromised, durably (oldest first). */
  compromised: CompromisedKey[];
}

function statusKey(
  key: SigningKeyInfo,
  state: StatusKey['state'],
  retireAt: Date | undefined,
  compromised: boolean,
  signsAt?: Date,
): StatusKey {
  return {
    kid: key.kid,
    version: key.version,
    algorithm: key.algorithm,
    createdAt: key.createdAt,
    state,
    ...(signsAt === undefined ? {} : { signsAt: signsAt.toISOString() }),
    ...(retireAt === undefined ? {} : { retireAt: retireAt.toISOString() }),
    ...(compromised ? { compromised: true } : {}),
  };
}

/** status.keys: held versions newest first, then the most recently retired ones. */
function statusKeys(view: IssuerKeysView, previous: StatusKey[] | undefined): StatusKey[] {
  const compromised = new Set(view.compromised.map((c) => c.kid));
  const held = [...view.keys].reverse().map((key) => {
    const decided = view.states.find((s) => s.version === key.version);
    return statusKey(
      key,
      decided?.state ?? 'verify-only',
      decided?.retireAt,
      compromised.has(key.kid),
      decided?.signsAt,
    );
  });
  const retiredNow = [...view.retired]
    .reverse()
    .map(({ key, retireAt }) => statusKey(key, 'retired', retireAt, compromised.has(key.kid)));
  const seen = new Set([...held, ...retiredNow].map((k) => k.kid));
  const retiredBefore = (previous ?? [])
    .filter((k) => !seen.has(k.kid))
    .map((k): StatusKey => ({
      ...k,
      state: 'retired',
      ...(compromised.has(k.kid) ? { compromised: true } : {}),
    }))
    .sort((a, b) => b.version - a.version);
  return [...held, ...[...retiredNow, ...retiredBefore].slice(0, RETIRED_KEYS_SHOWN)];
}

/** status.compromisedKids: what the policies read to re-mint tokens a compromised key signed. */
function compromisedKids(view: IssuerKeysView): TokenIssuerStatus['compromisedKids'] {
  return [...view.compromised]
    .reverse()
    .map((c) => ({ kid: c.kid, version: c.version, compromisedAt: c.at }));
}

/** The status to write; what this reconcile did not learn is kept from `previous`. */
export function issuerStatus(options: {
  previous: TokenIssuerStatus | undefined;
  generation: number | undefined;
  now: Date;
  view: IssuerKeysView | undefined;
  jwks: TokenIssuerStatus['jwks'];
  /** Where the verification server serves the issuer; undefined when it does not run. */
  verification?: TokenIssuerStatus['verification'];
  outcome: { ready: boolean; reason: string; message: string };
}): TokenIssuerStatus {
  const { previous, view } = options;
  const conditions = setReady(previous?.conditions, options.outcome, options.now, options.generation);
  const status: TokenIssuerStatus = {
    ...(options.generation === undefined ? {} : { observedGeneration: options.generation }),
    conditions,
  };
  const activeVersion = view?.states.find((k) => k.state === 'active')?.version;
  const active = view?.keys.find((k) => k.version === activeVersion) ?? view?.keys.at(-1);
  if (view && active) {
    status.keys = statusKeys(view, previous?.keys);
    status.activeKid = active.kid;
    if (view.nextKeyRotationAt) status.nextKeyRotationAt = view.nextKeyRotationAt.toISOString();
  } else {
    if (previous?.keys) status.keys = previous.keys;
    if (previous?.activeKid) status.activeKid = previous.activeKid;
    if (previous?.nextKeyRotationAt) status.nextKeyRotationAt = previous.nextKeyRotationAt;
  }
  // Never forgotten because a reconcile failed: policies re-mint what these kids signed.
  const compromised = view ? compromisedKids(view) : previous?.compromisedKids;
  if (compromised && compromised.length > 0) status.compromisedKids = compromised;
  const handled = view?.handledRotateKey ?? previous?.handledRequests?.rotateKey;
  if (handled !== undefined) status.handledRequests = { ...previous?.handledRequests, rotateKey: handled };
  if (options.jwks) status.jwks = options.jwks;
  else if (previous?.jwks) status.jwks = previous.jwks;
  if (options.verification) status.verification = options.verification;
  return status;
}
