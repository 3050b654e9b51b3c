/** Mints a new token version for a policy: the only place token material is created. */
import { randomUUID } from 'node:crypto';
import { buildJwtClaims } from '../../core/claims.ts';
import { fingerprintOfHash, tokenHash } from '../../core/fingerprint.ts';
import { mintOpaque, type RandomBytes } from '../../core/opaque.ts';
import type { TokenVersionRecord } from '../../core/records.ts';
import { shapeHash, type PolicySettings } from '../../core/settings.ts';
import { TokensmithError } from '../../errors.ts';
import type { ResolvedIssuer } from '../../issuers/resolved.ts';

/** Refresh tokens are opaque, recognisable by their prefix, and never JWTs. */
export const REFRESH_SHAPE = { bytes: 32, prefix: 'tsr_', encoding: 'base64url' } as const;

/** A new `pending` version: the token, its refresh token, and what Vault records about them. */
export async function mintVersion(options: {
  version: number;
  settings: PolicySettings;
  issuer: ResolvedIssuer;
  now: Date;
  random: RandomBytes;
}): Promise<TokenVersionRecord> {
  const { settings, issuer, now } = options;
  const { shape } = settings;
  const expiresAt = new Date(now.getTime() + shape.ttlMs);
  let token: string;
  let jti: string | undefined;
  let kid: string | undefined;
  if (shape.type === 'jwt') {
    jti = randomUUID();
    let claims;
    try {
      claims = buildJwtClaims({ issuer: issuer.issuerUrl, shape, now, expiresAt, jti });
    } catch (err) {
      throw new TokensmithError('InvalidSpec', (err as Error).message);
    }
    ({ token, kid } = await issuer.signJwt(claims));
  } else {
    token = mintOpaque(shape.opaque ?? {}, options.random);
  }
  const hash = tokenHash(token);
  const record: TokenVersionRecord = {
    version: options.version,
    state: 'pending',
    type: shape.type,
    token,
    tokenHash: hash,
    fingerprint: fingerprintOfHash(hash),
    scopes: [...shape.scopes],
    specHash: shapeHash(shape),
    issuedAt: now.toISOString(),
    expiresAt: expiresAt.toISOString(),
    ...(shape.jwt ? { audience: [...shape.jwt.audience], subject: shape.jwt.subject } : {}),
    ...(jti ? { jti } : {}),
    ...(kid ? { kid } : {}),
  };
  if (shape.refresh) {
    const refreshToken = mintOpaque(REFRESH_SHAPE, options.random);
    record.refreshToken = refreshToken;
    record.refreshTokenHash = tokenHash(refreshToken);
    record.refreshExpiresAt = new Date(now.getTime() + shape.refresh.ttlMs).toISOString();
  }
  return record;
}
