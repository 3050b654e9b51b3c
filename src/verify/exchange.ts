/**
 * The token endpoint's record work (tokenEndpoint.ts): minting the new access and refresh tokens
 * of an exchange, indexing them and recording them in the version's grant with check-and-set —
 * the order every mint keeps (index, then record, then answer) — and the small helpers of the
 * record and the scopes.
 */
import { randomUUID } from 'node:crypto';
import { buildJwtClaims } from '../core/claims.ts';
import { fingerprintOfHash, tokenHash } from '../core/fingerprint.ts';
import { withExchange, type ExchangeDecision } from '../core/grants.ts';
import { mintOpaque, type RandomBytes } from '../core/opaque.ts';
import type { PolicyTokenRecord, TokenIndexEntry, TokenVersionRecord } from '../core/records.ts';
import type { PolicySettings } from '../core/settings.ts';
import { REFRESH_SHAPE } from '../controllers/tokenPolicy/mint.ts';
import { TokensmithError } from '../errors.ts';
import type { Caller } from '../kube/tokenReview.ts';
import type { Clock, ObjectKey, TokenStore } from '../ports.ts';
import type { PolicyIssuer } from './tokenEndpoint.ts';

/** Mints, indexes and records the new pair; 'conflict' when another writer came first. */
export async function issuePair(
  deps: { clock: Clock; random: RandomBytes },
  store: TokenStore,
  stored: { value: PolicyTokenRecord; casVersion: number },
  version: TokenVersionRecord,
  decision: Extract<ExchangeDecision, { kind: 'exchange' | 'retry' }>,
  scopes: string[],
  resolved: PolicyIssuer,
  caller: Caller,
  key: ObjectKey,
): Promise<
  { accessToken: string; refreshToken: string; expiresIn: number; fingerprint: string } | 'conflict'
> {
  const now = deps.clock.now();
  const { shape } = resolved.settings;
  // Never past the grant's end: the version's refresh token's expiry.
  const expiresAt = new Date(
    Math.min(now.getTime() + shape.ttlMs, Date.parse(version.refreshExpiresAt ?? '')),
  );
  let accessToken: string;
  let jti: string | undefined;
  let kid: string | undefined;
  if (shape.type === 'jwt') {
    jti = randomUUID();
    const claims = buildJwtClaims({
      issuer: resolved.issuer.issuerUrl,
      shape: { ...shape, scopes },
      now,
      expiresAt,
      jti,
    });
    ({ token: accessToken, kid } = await resolved.issuer.signJwt(claims));
  } else {
    accessToken = mintOpaque(shape.opaque ?? {}, deps.random);
  }
  const refreshToken = mintOpaque(REFRESH_SHAPE, deps.random);
  const accessHash = tokenHash(accessToken);
  const refreshHash = tokenHash(refreshToken);
  // Index first (as for every mint): a crash after this leaves entries that match nothing.
  await store.putIndex(accessHash, { ...key, version: version.version, kind: 'grantToken' });
  await store.putIndex(refreshHash, { ...key, version: version.version, kind: 'grantRefreshToken' });
  const { version: next, dropped } = withExchange(
    version,
    decision,
    {
      token: {
        hash: accessHash,
        fingerprint: fingerprintOfHash(accessHash),
        type: shape.type,
        scopes,
        issuedAt: now.toISOString(),
        expiresAt: expiresAt.toISOString(),
        ...(jti ? { jti } : {}),
        ...(kid ? { kid } : {}),
      },
      refresh: { hash: refreshHash, fingerprint: fingerprintOfHash(refreshHash) },
    },
    caller.username,
    now,
  );
  try {
    await store.write(key, withVersion(stored.value, next), stored.casVersion);
  } catch (err) {
    if (!(err instanceof TokensmithError) || err.code !== 'VaultConflict') throw err;
    await store.deleteIndex(accessHash);
    await store.deleteIndex(refreshHash);
    return 'conflict';
  }
  for (const hash of dropped) await store.deleteIndex(hash);
  return {
    accessToken,
    refreshToken,
    expiresIn: Math.max(0, Math.floor((expiresAt.getTime() - now.getTime()) / 1000)),
    fingerprint: fingerprintOfHash(accessHash),
  };
}

/** Whether the version holds the refresh token the index entry says. */
export function holds(version: TokenVersionRecord, entry: TokenIndexEntry, hash: string): boolean {
  if (entry.kind === 'refreshToken') return version.refreshTokenHash === hash;
  return version.grant?.refresh.some((r) => r.hash === hash) === true;
}

/** The record with `version` replaced. */
export function withVersion(record: PolicyTokenRecord, version: TokenVersionRecord): PolicyTokenRecord {
  return { ...record, versions: record.versions.map((v) => (v.version === version.version ? version : v)) };
}

/**
 * The scopes of the new access token: those the grant was issued with that the policy still
 * grants, or the subset `scope` asks for; undefined when `scope` names anything else.
 */
export function narrowedScopes(
  scope: string | null,
  version: TokenVersionRecord,
  settings: PolicySettings,
): string[] | undefined {
  const granted = version.scopes.filter((s) => settings.shape.scopes.includes(s));
  if (scope === null || scope.trim() === '') return granted;
  const asked = [...new Set(scope.split(' ').filter((s) => s !== ''))].sort();
  return asked.every((s) => granted.includes(s)) ? asked : undefined;
}
