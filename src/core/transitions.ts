/**
 * Pure transitions of a policy's Vault record, one per plan step. Each returns a new record;
 * the reconciler writes it with check-and-set, so a lost race is retried from fresh state.
 */
import type { HandledRequests, PolicyTokenRecord, TokenVersionRecord } from './records.ts';

/**
 * `v` revoked at `at`: its state and why, and its token and refresh token erased. Revoked means
 * gone: nothing can deliver or redeem the plaintext any more, and what stays (hash, fingerprint,
 * times) is enough to answer for it.
 */
function revokedVersion(v: TokenVersionRecord, at: string, reason: string): TokenVersionRecord {
  const kept = { ...v, state: 'revoked' as const, revokedAt: at, revokeReason: reason };
  delete kept.token;
  delete kept.refreshToken;
  return kept;
}

function update(
  record: PolicyTokenRecord,
  versions: readonly number[],
  change: (v: TokenVersionRecord) => TokenVersionRecord,
): PolicyTokenRecord {
  return { ...record, versions: record.versions.map((v) => (versions.includes(v.version) ? change(v) : v)) };
}

/** Records requests as acted on (in the same write as the action). */
export function withHandled(
  record: PolicyTokenRecord,
  handles: HandledRequests | undefined,
): PolicyTokenRecord {
  if (!handles || Object.keys(handles).length === 0) return record;
  return { ...record, handled: { ...record.handled, ...handles } };
}

/** Adds a freshly minted version as pending, with the requests it satisfies. */
export function withMinted(
  record: PolicyTokenRecord,
  minted: TokenVersionRecord,
  handles?: HandledRequests,
): PolicyTokenRecord {
  return withHandled(
    { ...record, lastVersion: minted.version, versions: [...record.versions, minted] },
    handles,
  );
}

/**
 * A routine rotation's single record write: the freshly minted version becomes current and active
 * at once, and the previous active version starts retiring (its overlap begins now). The Secret
 * gets the new token next (plan step `publish`); until it holds it, no retiring version is revoked
 * (core/plan.ts), so the Secret never holds a revoked token. One Vault write where mint, publish
 * and activate took two. A replacement after a compromise does not use it: it must revoke what it
 * replaces only once it is published, so it goes pending → publish → activate.
 */
export function withMintedCurrent(
  record: PolicyTokenRecord,
  minted: TokenVersionRecord,
  now: Date,
  handles?: HandledRequests,
): PolicyTokenRecord {
  const at = now.toISOString();
  return withHandled(
    {
      ...record,
      lastVersion: minted.version,
      currentVersion: minted.version,
      versions: [
        ...record.versions.map((v) =>
          v.state === 'active' ? { ...v, state: 'retiring' as const, retiringSince: at } : v,
        ),
        { ...minted, state: 'active', publishedAt: at },
      ],
    },
    handles,
  );
}

/**
 * Makes `version` current and active. The previous active version starts retiring (its overlap
 * begins now) — or, for a version minted after a compromise, is revoked at once, with the
 * retiring ones too for `revokeAll`. The revoke reason is KeyCompromised when the replacement was
 * minted because a leaked signing key signed the previous one, else Compromised.
 */
export function withActivated(
  record: PolicyTokenRecord,
  version: number,
  now: Date,
  onActivateOverride?: 'revokeCurrent' | 'revokeAll',
): PolicyTokenRecord {
  const at = now.toISOString();
  const activated = record.versions.find((v) => v.version === version);
  const onActivate = onActivateOverride ?? activated?.onActivate;
  const revokeReason = activated?.mintReason === 'KeyCompromised' ? 'KeyCompromised' : 'Compromised';
  const revoke = (v: TokenVersionRecord): TokenVersionRecord => revokedVersion(v, at, revokeReason);
  return {
    ...record,
    currentVersion: version,
    versions: record.versions.map((v) => {
      if (v.version === version) return { ...v, state: 'active', publishedAt: v.publishedAt ?? at };
      if (v.state === 'active')
        return onActivate ? revoke(v) : { ...v, state: 'retiring', retiringSince: at };
      if (v.state === 'retiring' && onActivate === 'revokeAll') return revoke(v);
      return v;
    }),
  };
}

/** Revokes the given versions (idempotent: an already revoked version keeps its revokedAt). */
export function withRevoked(
  record: PolicyTokenRecord,
  versions: readonly number[],
  now: Date,
  reason: string,
): PolicyTokenRecord {
  return update(record, versions, (v) =>
    v.state === 'revoked' ? v : revokedVersion(v, now.toISOString(), reason),
  );
}

/** Revokes every version that is not revoked yet. */
export function withAllRevoked(record: PolicyTokenRecord, now: Date, reason: string): PolicyTokenRecord {
  return withRevoked(
    record,
    record.versions.map((v) => v.version),
    now,
    reason,
  );
}

/** Forgets the given versions. */
export function withPruned(record: PolicyTokenRecord, versions: readonly number[]): PolicyTokenRecord {
  return { ...record, versions: record.versions.filter((v) => !versions.includes(v.version)) };
}

/** An empty record for a policy that has never had a token. */
export function emptyRecord(
  policy: PolicyTokenRecord['policy'],
  issuer: PolicyTokenRecord['issuer'],
): PolicyTokenRecord {
  return { policy, issuer, currentVersion: 0, lastVersion: 0, versions: [] };
}
