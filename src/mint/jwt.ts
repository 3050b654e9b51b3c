/**
 * JWTs signed through the SigningKeys port. jose has no hook for a remote signer (transit keeps
 * the private key in Vault), so the compact JWS is assembled here: base64url(header) . base64url
 * (payload) . base64url(signature), with the header `{ alg, typ: 'JWT', kid }`.
 */
import { base64url, type JWK, type JWTPayload } from 'jose';
import { TokensmithError } from '../errors.ts';
import { signingKeyOf } from '../core/keySigner.ts';
import type { SigningKeyInfo, SigningKeys } from '../ports.ts';

/** How often signing is tried again when the chosen version stopped signing in between. */
const ATTEMPTS = 3;

/** How the signing version is chosen (see core/keyRotation.ts signingKeyOf). */
export interface SignerChoice {
  now: () => Date;
  /** When a version may sign (ms), e.g. statusSignsFrom of the issuer's status. */
  signsFrom: (key: SigningKeyInfo) => number;
  /** Kids recorded as compromised (the issuer's status): never signed with. */
  compromisedKids: ReadonlySet<string>;
}

/**
 * Signs `claims` with the version that signs now: the newest one that has been in the JWKS for
 * publishAhead (by the issuer's status), so verifiers that cache the JWKS know its kid. The kid goes into the signed
 * header, so the version is chosen from list() first and signing names it; if it was retired in
 * between (a leak), the choice is made again from a fresh list.
 */
export async function signJwt(keys: SigningKeys, claims: JWTPayload, choice: SignerChoice): Promise<string> {
  const payload = base64url.encode(JSON.stringify(claims));
  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const signer = signingKeyOf(await keys.list(), {
      now: choice.now(),
      signsFrom: choice.signsFrom,
      compromisedKids: choice.compromisedKids,
    });
    if (signer === undefined) {
      throw new TokensmithError('SigningFailed', 'the issuer has no signing key that may sign now');
    }
    const header = base64url.encode(JSON.stringify({ alg: keys.algorithm, typ: 'JWT', kid: signer.kid }));
    const signingInput = `${header}.${payload}`;
    try {
      const { signature, kid } = await keys.sign(new TextEncoder().encode(signingInput), signer.version);
      if (kid === signer.kid) return `${signingInput}.${base64url.encode(signature)}`;
    } catch (err) {
      if (!(err instanceof TokensmithError) || err.reason === 'InvalidSpec') throw err;
      lastError = err;
    }
  }
  throw lastError instanceof TokensmithError
    ? lastError
    : new TokensmithError(
        'SigningFailed',
        `the signing key kept changing while a token was signed (${ATTEMPTS} tries)`,
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
