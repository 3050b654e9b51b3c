/**
 * What a presented token is, from what Vault records about its version: pure decisions shared by
 * introspection and the token endpoint — whether it is live and what it carries, why not (a usage
 * signal), whether the version holds it as its index entry says, and who may use a policy's tokens.
 */
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import { parseDuration } from '../core/duration.ts';
import { fingerprintOfHash } from '../core/fingerprint.ts';
import { grantTokenLive } from '../core/grants.ts';
import type { TokenIndexKind, TokenVersionRecord } from '../core/records.ts';
import type { Caller } from '../kube/tokenReview.ts';

/** What a live token is, for the answer; undefined when it is not live at `now`. */
export function liveToken(
  v: TokenVersionRecord,
  kind: TokenIndexKind,
  hash: string,
  now: Date,
):
  | {
      use: 'access_token' | 'refresh_token';
      scopes: string[];
      exp: number;
      iat: number;
      jti?: string;
      fingerprint: string;
    }
  | undefined {
  if (v.state !== 'active' && v.state !== 'retiring') return undefined;
  const t = now.getTime();
  const within = (iat: number, exp: number) => exp > t && iat <= t;
  if (kind === 'token') {
    const exp = Date.parse(v.expiresAt);
    const iat = Date.parse(v.issuedAt);
    if (!within(iat, exp)) return undefined;
    return {
      use: 'access_token',
      scopes: v.scopes,
      exp,
      iat,
      ...(v.jti ? { jti: v.jti } : {}),
      fingerprint: v.fingerprint,
    };
  }
  if (kind === 'refreshToken') {
    // Redeemed at the token endpoint (or its grant revoked): spent.
    if (v.grant?.revokedAt || v.grant?.refresh.some((r) => r.generation === 0 && r.spentAt)) return undefined;
    const exp = Date.parse(v.refreshExpiresAt ?? '');
    const iat = Date.parse(v.issuedAt);
    if (!within(iat, exp)) return undefined;
    return { use: 'refresh_token', scopes: v.scopes, exp, iat, fingerprint: fingerprintOfHash(hash) };
  }
  const issued = grantTokenLive(v, hash, kind, now);
  if (!issued) return undefined;
  if ('token' in issued) {
    const { token } = issued;
    return {
      use: 'access_token',
      scopes: token.scopes,
      exp: Date.parse(token.expiresAt),
      iat: Date.parse(token.issuedAt),
      ...(token.jti ? { jti: token.jti } : {}),
      fingerprint: token.fingerprint,
    };
  }
  return {
    use: 'refresh_token',
    scopes: v.scopes,
    exp: Date.parse(v.refreshExpiresAt ?? ''),
    iat: Date.parse(issued.refresh.issuedAt),
    fingerprint: issued.refresh.fingerprint,
  };
}

/**
 * Why a token tokensmith knows is not live, as a usage signal: past its expiry, or revoked (its
 * version, its grant, or spent); nothing for one not valid yet.
 */
export function notLiveSignal(
  v: TokenVersionRecord,
  kind: TokenIndexKind,
  hash: string,
  now: Date,
): 'RevokedTokenPresented' | 'ExpiredTokenPresented' | undefined {
  const t = now.getTime();
  const grantToken = kind === 'grantToken' ? v.grant?.tokens.find((x) => x.hash === hash) : undefined;
  const expiresAt =
    kind === 'token' ? v.expiresAt : kind === 'grantToken' ? grantToken?.expiresAt : v.refreshExpiresAt;
  if (Date.parse(expiresAt ?? '') <= t) return 'ExpiredTokenPresented';
  const issuedAt = kind === 'grantToken' ? grantToken?.issuedAt : v.issuedAt;
  if (Date.parse(issuedAt ?? '') > t) return undefined;
  return 'RevokedTokenPresented';
}

/** The policy's overlap, for the stale-consumer signal (0 when its spec does not parse). */
export function overlapOf(policy: TokenPolicy): number {
  try {
    return policy.spec.rotation?.overlap ? parseDuration(policy.spec.rotation.overlap) : 0;
  } catch {
    return 0;
  }
}

/** Whether the version holds the token with sha256 `hash` as the index says (`kind`). */
export function belongsTo(version: TokenVersionRecord, kind: TokenIndexKind, hash: string): boolean {
  switch (kind) {
    case 'token':
      return version.tokenHash === hash;
    case 'refreshToken':
      return version.refreshTokenHash === hash;
    case 'grantToken':
      return version.grant?.tokens.some((t) => t.hash === hash) === true;
    case 'grantRefreshToken':
      return version.grant?.refresh.some((r) => r.hash === hash && r.generation !== 0) === true;
  }
}

/** Whether `caller` may introspect the policy's tokens (spec.consumers; default: its namespace). */
export function isConsumer(policy: TokenPolicy, caller: Caller): boolean {
  const account = caller.serviceAccount;
  if (!account) return false;
  const consumers = policy.spec.consumers;
  if (!consumers) return account.namespace === policy.metadata?.namespace;
  return (
    (consumers.namespaces ?? []).includes(account.namespace) ||
    (consumers.serviceAccounts ?? []).some(
      (sa) => sa.namespace === account.namespace && sa.name === account.name,
    )
  );
}
