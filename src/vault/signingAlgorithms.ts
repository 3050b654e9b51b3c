/**
 * What both signing-key backends share: the parameters of each JWS algorithm and how a public
 * key becomes a SigningKeyInfo (a JWK with an RFC 7638 thumbprint as kid).
 */
import type { webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { TokensmithError } from '../errors.ts';
import type { SigningAlgorithm, SigningKeyInfo } from '../ports.ts';

/** How each algorithm is spelled for transit and WebCrypto. */
export interface AlgorithmParameters {
  /** The transit key type created for it. */
  transitType: 'ed25519' | 'ecdsa-p256' | 'rsa-2048';
  /** Transit key types that can sign for it (an existing RS256 key may be longer than 2048 bits). */
  transitTypes: readonly string[];
  /** WebCrypto key algorithm (generate and import). */
  keyAlgorithm: webcrypto.AlgorithmIdentifier | webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  /** WebCrypto signature algorithm. */
  signAlgorithm: webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams;
  /** JWK members of the public key, in the order RFC 7638 does not care about. */
  publicMembers: readonly string[];
}

/** The parameters of each supported JWS algorithm. */
export const ALGORITHMS: Readonly<Record<SigningAlgorithm, AlgorithmParameters>> = {
  EdDSA: {
    transitType: 'ed25519',
    transitTypes: ['ed25519'],
    keyAlgorithm: { name: 'Ed25519' },
    signAlgorithm: { name: 'Ed25519' },
    publicMembers: ['kty', 'crv', 'x'],
  },
  ES256: {
    transitType: 'ecdsa-p256',
    transitTypes: ['ecdsa-p256'],
    keyAlgorithm: { name: 'ECDSA', namedCurve: 'P-256' },
    // WebCrypto ECDSA signatures are raw r||s, which is exactly the JWS format.
    signAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicMembers: ['kty', 'crv', 'x', 'y'],
  },
  RS256: {
    transitType: 'rsa-2048',
    transitTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096'],
    keyAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    signAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
    publicMembers: ['kty', 'n', 'e'],
  },
};

/** Only the public members of a JWK (so a private JWK can never slip into a JWKS). */
export function publicJwkOf(jwk: JWK, algorithm: SigningAlgorithm): JWK {
  const out: Record<string, unknown> = {};
  for (const member of ALGORITHMS[algorithm].publicMembers) {
    const value = (jwk as Record<string, unknown>)[member];
    if (typeof value !== 'string') {
      throw new TokensmithError('SigningFailed', `a ${algorithm} public key lacks its "${member}" member`);
    }
    out[member] = value;
  }
  return out;
}

/** The SigningKeyInfo of one key version: its public JWK with kid, alg and use. */
export async function signingKeyInfo(
  jwk: JWK,
  algorithm: SigningAlgorithm,
  version: number,
  createdAt: string,
): Promise<SigningKeyInfo> {
  const publicJwk = publicJwkOf(jwk, algorithm);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { kid, version, algorithm, createdAt, publicJwk: { ...publicJwk, kid, alg: algorithm, use: 'sig' } };
}

/** A timestamp as ISO 8601, or the input when it does not parse. */
export function isoTime(value: string): string {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}
