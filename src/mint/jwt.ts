/**
 * JWTs signed through the SigningKeys port. jose has no hook for a remote signer (transit keeps
 * the private key in Vault), so the compact JWS is assembled here: base64url(header) . base64url
 * (payload) . base64url(signature), with the header `{ alg, typ: 'JWT', kid }`.
 */
import { base64url, type JWK, type JWTPayload } from 'jose';
import { TokensmithError } from '../errors.ts';
import type { SigningKeyInfo, SigningKeys } from '../ports.ts';

/** How often signing is tried again when the key rotated between choosing the kid and signing. */
const ATTEMPTS = 3;

/**
 * Signs `claims` with the issuer's newest key version. The kid goes into the signed header, so it
 * is taken from list() first; if a rotation slipped in before the signature was made, the token
 * is signed again with the new kid.
 */
export async function signJwt(keys: SigningKeys, claims: JWTPayload): Promise<string> {
  const payload = base64url.encode(JSON.stringify(claims));
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const newest = (await keys.list()).at(-1);
    if (newest === undefined) {
      throw new TokensmithError('SigningFailed', 'the issuer has no signing key yet');
    }
    const header = base64url.encode(JSON.stringify({ alg: keys.algorithm, typ: 'JWT', kid: newest.kid }));
    const signingInput = `${header}.${payload}`;
    const { signature, kid } = await keys.sign(new TextEncoder().encode(signingInput));
    if (kid === newest.kid) return `${signingInput}.${base64url.encode(signature)}`;
  }
  throw new TokensmithError(
    'SigningFailed',
    `the signing key kept rotating while a token was signed (${ATTEMPTS} tries)`,
  );
}

/** Members of a JWK that only a private key has; never published. */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

/**
 * The JWKS document (RFC 7517) of an issuer's key versions, for verifiers. Each key carries its
 * kid, alg and use; private members are dropped even if a caller passed them.
 */
export function jwksOf(keys: SigningKeyInfo[]): { keys: JWK[] } {
  return {
    keys: keys.map((info) => {
      const jwk = Object.fromEntries(
        Object.entries(info.publicJwk).filter(([member]) => !PRIVATE_MEMBERS.has(member)),
      );
      return { ...jwk, kid: info.kid, alg: info.algorithm, use: 'sig' };
    }),
  };
}
