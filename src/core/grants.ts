/**
 * Refresh-token grants (RFC 6749 §6 with the rotation and replay detection of RFC 9700 §4.14.2),
 * as pure decisions over a token version's record. A version with a refresh token is a grant: its
 * refresh token (generation 0, in the Secret) can be redeemed once at the token endpoint for a new
 * access token and the next refresh token, and so on. What the grant issued is recorded in the
 * version (hashes only) in the same check-and-set write as the spend, before anything is answered,
 * so every token a caller holds is one Vault recorded, and the grant lives and dies with its
 * version: revoking the version (rotation's overlap ending, `revoke=…`) revokes everything the
 * grant issued, and a grant never outlives its version's refresh token.
 *
 * Presenting a spent refresh token is a replay: the whole grant is revoked at once — with one
 * exception, so that a caller whose answer was lost (tokensmith died after recording the exchange)
 * is not punished: the same caller may redeem the same refresh token once more, from
 * REFRESH_RETRY_AFTER_MS to REFRESH_RETRY_GRACE_MS after it was spent, as long as the refresh
 * token it was answered with was never redeemed; that pair is revoked (it never arrived) and a new
 * one issued. Sooner than REFRESH_RETRY_AFTER_MS the same caller's second presentation is a
 * conflict — two requests at once, one of which won — answered invalid_grant without revoking
 * anything, so two exchanges of one refresh token at once never both succeed.
 */
import type { Grant, GrantRefresh, GrantToken, TokenVersionRecord } from './records.ts';

/** Access tokens a grant keeps (newest): older ones are dropped, and with them their validity. */
export const GRANT_TOKENS_KEPT = 10;
/** Refresh tokens a grant remembers (newest): replays of older ones are not recognised as such. */
export const GRANT_REFRESH_KEPT = 20;
/** How long after a refresh token was redeemed its caller may redeem it once more (a lost answer). */
export const REFRESH_RETRY_GRACE_MS = 10_000;
/** Before this, the same caller presenting it again is a concurrent request (a conflict), not a retry. */
export const REFRESH_RETRY_AFTER_MS = 1_000;

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/** What presenting a refresh token of a grant leads to. */
export type ExchangeDecision =
  /** Redeem it: `parent` is its generation. */
  | { kind: 'exchange'; parent: number }
  /** Its first answer was lost: redeem it again, revoking what that answer carried. */
  | { kind: 'retry'; parent: number; lost: number }
  /** A spent refresh token presented again: revoke the grant. */
  | { kind: 'replay'; spentBy?: string }
  /** The same caller, just after it was spent: a concurrent request that lost; nothing to do. */
  | { kind: 'conflict' }
  /** Not redeemable, nothing to do: `why` is for the error description (never a token). */
  | { kind: 'invalid'; why: string };

/** Whether the version's own state lets its grant be used at all; the reason if not. */
function grantUnusable(version: TokenVersionRecord, now: number): string | undefined {
  if (version.state !== 'active' && version.state !== 'retiring') return 'the refresh token was revoked';
  if (!(ms(version.refreshExpiresAt) > now)) return 'the refresh token has expired';
  if (version.grant?.revokedAt) return 'the refresh token was revoked';
  return undefined;
}

/** The refresh token of the grant with this hash (generation 0 is the version's own). */
function refreshOf(version: TokenVersionRecord, hash: string): GrantRefresh | undefined {
  const known = version.grant?.refresh.find((r) => r.hash === hash);
  if (known) return known;
  if (hash === version.refreshTokenHash && !version.grant) {
    return { hash, fingerprint: '', generation: 0, issuedAt: version.issuedAt };
  }
  return undefined;
}

/**
 * What presenting the refresh token with sha256 `hash` (which the index says belongs to this
 * version's grant) means for `caller` at `now`.
 */
export function decideExchange(input: {
  version: TokenVersionRecord;
  hash: string;
  caller: string;
  now: Date;
}): ExchangeDecision {
  const { version, hash, caller } = input;
  const now = input.now.getTime();
  const unusable = grantUnusable(version, now);
  if (unusable) return { kind: 'invalid', why: unusable };
  const refresh = refreshOf(version, hash);
  // Indexed for this grant but no longer remembered: an old spent one.
  if (!refresh) return { kind: 'replay' };
  if (refresh.revokedAt) return { kind: 'replay', ...(refresh.spentBy ? { spentBy: refresh.spentBy } : {}) };
  if (refresh.spentAt === undefined) return { kind: 'exchange', parent: refresh.generation };
  const successor = version.grant?.refresh.find((r) => r.parent === refresh.generation && !r.revokedAt);
  const sinceSpent = now - ms(refresh.spentAt);
  const successorUnused = successor !== undefined && successor.spentAt === undefined;
  if (
    refresh.spentBy === caller &&
    sinceSpent < REFRESH_RETRY_AFTER_MS &&
    successorUnused &&
    !refresh.retried
  ) {
    return { kind: 'conflict' };
  }
  const withinGrace = sinceSpent <= REFRESH_RETRY_GRACE_MS;
  if (withinGrace && refresh.spentBy === caller && !refresh.retried && successorUnused) {
    return { kind: 'retry', parent: refresh.generation, lost: successor.generation };
  }
  return { kind: 'replay', ...(refresh.spentBy ? { spentBy: refresh.spentBy } : {}) };
}

/** What an exchange issues, hashes and facts only. */
export interface Issued {
  token: Omit<GrantToken, 'generation'>;
  refresh: { hash: string; fingerprint: string };
}

/** The version after an exchange (or retry), and the index entries it no longer needs. */
export function withExchange(
  version: TokenVersionRecord,
  decision: Extract<ExchangeDecision, { kind: 'exchange' | 'retry' }>,
  issued: Issued,
  caller: string,
  now: Date,
): { version: TokenVersionRecord; dropped: string[] } {
  const at = now.toISOString();
  const grant: Grant = version.grant ?? {
    exchanges: 0,
    tokens: [],
    refresh: [
      {
        hash: version.refreshTokenHash ?? '',
        fingerprint: version.refreshTokenHash ? `sha256:${version.refreshTokenHash.slice(0, 12)}` : '',
        generation: 0,
        issuedAt: version.issuedAt,
      },
    ],
  };
  const generation = grant.exchanges + 1;
  const lost = decision.kind === 'retry' ? decision.lost : undefined;
  const refresh = grant.refresh.map((r): GrantRefresh => {
    if (r.generation === decision.parent) {
      return decision.kind === 'retry' ? { ...r, retried: true } : { ...r, spentAt: at, spentBy: caller };
    }
    return r.generation === lost ? { ...r, revokedAt: at } : r;
  });
  refresh.push({
    hash: issued.refresh.hash,
    fingerprint: issued.refresh.fingerprint,
    generation,
    parent: decision.parent,
    issuedAt: at,
  });
  const tokens = grant.tokens.map((t) => (t.generation === lost ? { ...t, revokedAt: at } : t));
  tokens.push({ ...issued.token, generation });
  const keptTokens = tokens.slice(-GRANT_TOKENS_KEPT);
  const keptRefresh = refresh.slice(-GRANT_REFRESH_KEPT);
  const dropped = [
    ...tokens.slice(0, tokens.length - keptTokens.length).map((t) => t.hash),
    ...refresh
      .slice(0, refresh.length - keptRefresh.length)
      .filter((r) => r.generation !== 0) // the version's own stays indexed with the version
      .map((r) => r.hash),
  ];
  return {
    version: {
      ...version,
      grant: { ...grant, exchanges: generation, tokens: keptTokens, refresh: keptRefresh },
    },
    dropped,
  };
}

/** The version with its grant revoked because a spent refresh token was presented by `by`. */
export function withReplay(
  version: TokenVersionRecord,
  replay: { by: string; fingerprint: string },
  now: Date,
): TokenVersionRecord {
  const grant: Grant = version.grant ?? { exchanges: 0, tokens: [], refresh: [] };
  if (grant.revokedAt) return version;
  return {
    ...version,
    grant: { ...grant, revokedAt: now.toISOString(), revokeReason: 'RefreshTokenReplayed', replay },
  };
}

/** Every hash the index holds for the grant's tokens (to drop with the version). */
export function grantHashes(version: TokenVersionRecord): string[] {
  const grant = version.grant;
  if (!grant) return [];
  return [
    ...grant.tokens.map((t) => t.hash),
    ...grant.refresh.filter((r) => r.generation !== 0).map((r) => r.hash),
  ];
}

/**
 * A token the grant issued, as introspection sees it: live while its version is active or
 * retiring and the grant is not revoked, an access token until its own expiry (never past the
 * grant's), a refresh token until it is redeemed or the grant expires.
 */
export function grantTokenLive(
  version: TokenVersionRecord,
  hash: string,
  kind: 'grantToken' | 'grantRefreshToken',
  now: Date,
): { token: GrantToken } | { refresh: GrantRefresh } | undefined {
  const t = now.getTime();
  if (version.state !== 'active' && version.state !== 'retiring') return undefined;
  if (version.grant?.revokedAt) return undefined;
  if (kind === 'grantToken') {
    const token = version.grant?.tokens.find((x) => x.hash === hash);
    if (!token || token.revokedAt || !(ms(token.expiresAt) > t) || !(ms(token.issuedAt) <= t))
      return undefined;
    return { token };
  }
  const refresh = version.grant?.refresh.find((x) => x.hash === hash && x.generation !== 0);
  if (!refresh || refresh.spentAt || refresh.revokedAt || !(ms(version.refreshExpiresAt) > t))
    return undefined;
  return { refresh };
}
