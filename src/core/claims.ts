/**
 * The claims of a JWT minted for a policy. Registered claims come from the spec and the clock;
 * the CRD refuses extra claims that would override them, and this refuses them again so that a
 * bypassed schema cannot forge `iss` or `exp`.
 */
import type { TokenShape } from './settings.ts';

export const RESERVED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'scope'] as const;

export interface JwtClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  scope?: string;
  [claim: string]: unknown;
}

/** Builds the claims; throws a RangeError naming a reserved claim found in `extra`. */
export function buildJwtClaims(options: {
  issuer: string;
  shape: TokenShape;
  now: Date;
  expiresAt: Date;
  jti: string;
}): JwtClaims {
  const jwt = options.shape.jwt;
  if (!jwt) throw new RangeError('a JWT needs token.jwt settings');
  const reserved = Object.keys(jwt.claims).filter((c) => (RESERVED_CLAIMS as readonly string[]).includes(c));
  if (reserved.length > 0) {
    throw new RangeError(`token.jwt.claims must not set ${reserved.join(', ')}: tokensmith sets those`);
  }
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
  return {
    ...jwt.claims,
    iss: options.issuer,
    sub: jwt.subject,
    aud: jwt.audience.length === 1 ? (jwt.audience[0] ?? '') : [...jwt.audience],
    iat: seconds(options.now),
    nbf: seconds(options.now),
    exp: seconds(options.expiresAt),
    jti: options.jti,
    ...(options.shape.scopes.length > 0 ? { scope: options.shape.scopes.join(' ') } : {}),
  };
}
