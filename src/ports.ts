/**
 * The narrow ports the controllers use to reach Vault. Adapters in src/vault implement them
 * against the real server; the pure core never sees them. Every method throws TokensmithError.
 */
import type { JWK } from 'jose';
import type { CompromisedKey, RotationClaim } from './core/keyRotation.ts';
import type { PolicyTokenRecord, TokenIndexEntry } from './core/records.ts';

/** A namespaced name. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

/** A value with the KV v2 version it was read at (for check-and-set). */
export interface Versioned<T> {
  value: T;
  /** The KV v2 version; pass it back to write() for check-and-set. */
  casVersion: number;
}

/** Token records of the policies of one issuer, in KV v2 under the issuer's mount and prefix. */
export interface TokenStore {
  /** The policy's record, or undefined if Vault holds none. */
  read(policy: ObjectKey): Promise<Versioned<PolicyTokenRecord> | undefined>;
  /**
   * Writes the record if Vault still holds `casVersion` (0: only if none exists). Throws
   * TokensmithError('VaultConflict') when another writer came first. Returns the new casVersion.
   */
  write(policy: ObjectKey, record: PolicyTokenRecord, casVersion: number): Promise<number>;
  /** Removes the record with every version and its metadata. */
  destroy(policy: ObjectKey): Promise<void>;
  /** The lookup index: sha256 hex of a token → where it is recorded. Never plaintext. */
  putIndex(tokenHash: string, entry: TokenIndexEntry): Promise<void>;
  getIndex(tokenHash: string): Promise<TokenIndexEntry | undefined>;
  deleteIndex(tokenHash: string): Promise<void>;
}

export type SigningAlgorithm = 'EdDSA' | 'ES256' | 'RS256';

/** One version of an issuer's signing key, public parts only. */
export interface SigningKeyInfo {
  /** RFC 7638 JWK thumbprint of the public key. */
  kid: string;
  /** The key version in its backend (transit key version, or KV key number), 1-based. */
  version: number;
  algorithm: SigningAlgorithm;
  createdAt: string;
  /** The public JWK with kid, alg and use: 'sig'. */
  publicJwk: JWK;
}

/** An issuer's signing key in Vault: transit (the private key never leaves Vault) or KV. */
export interface SigningKeys {
  readonly algorithm: SigningAlgorithm;
  /** Creates the key if it does not exist yet. Idempotent. */
  ensure(): Promise<void>;
  /** Every version that can still verify, oldest first; the last one signs. */
  list(): Promise<SigningKeyInfo[]>;
  /** Adds a version that signs from now on. */
  rotate(): Promise<void>;
  /** Stops versions below `version` from verifying and deletes them. */
  retireBelow(version: number): Promise<void>;
  /**
   * Signs a JWS signing input (ASCII `header.payload`) with the given version (the one
   * core/keySigner.ts signingKeyOf picks from list()). Fails when that version no longer signs
   * (retired, or below the backend's minimum).
   */
  sign(signingInput: Uint8Array, version: number): Promise<{ signature: Uint8Array; kid: string }>;
}

/**
 * What tokensmith must remember about an issuer's signing key across crashes, kept in Vault next
 * to the keys: the rotate-key request last acted on, the last rotation claimed and the key
 * versions a leaked-key request compromised. All are written (check-and-set) before a rotation is
 * made, so a request is acted on once even if the process dies before the issuer's status is
 * written, and a compromised key is retired (and its tokens re-minted) whatever happens next.
 */
export interface IssuerKeyState {
  /** The tokensmith.dev/rotate-key annotation value last acted on. */
  rotateKey?: string;
  /** The last rotation claimed; written before the rotation is made. */
  rotation?: RotationClaim;
  /** Key versions recorded as compromised (newest last, bounded); written before the rotation. */
  compromised?: CompromisedKey[];
}

/** The issuer's IssuerKeyState in KV v2 (`<pathPrefix>/issuer-state`). */
export interface IssuerKeyStateStore {
  /** The state, or undefined if none was written yet. */
  read(): Promise<Versioned<IssuerKeyState> | undefined>;
  /**
   * Writes the state if Vault still holds `casVersion` (0: only if none exists). Throws
   * TokensmithError('VaultConflict') when another writer came first. Returns the new casVersion.
   */
  write(state: IssuerKeyState, casVersion: number): Promise<number>;
}

/** Time, injected so that schedules and backoff can be tested with a fake clock. */
export interface Clock {
  now(): Date;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/**
 * Bounds the rate and concurrency of requests toward one API (Kubernetes or Vault). Every adapter
 * sends its requests through one of these.
 */
export interface RequestLimiter {
  run<T>(request: () => Promise<T>): Promise<T>;
}
