/**
 * SigningKeys kept in KV v2: key pairs are generated with WebCrypto (through jose) and every
 * version's private JWK is stored in one KV entry, `<prefix>/signing-keys`, changed only by
 * check-and-set writes. Signing happens in this process with WebCrypto. For when the transit
 * engine is not available; transit is preferred because there the private key never leaves Vault.
 */
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { TokensmithError } from '../errors.ts';
import type { SigningAlgorithm, SigningKeyInfo, SigningKeys } from '../ports.ts';
import type { VaultClient } from './client.ts';
import { KvV2, type KvEntry } from './kv.ts';
import { ALGORITHMS, signingKeyInfo } from './signingAlgorithms.ts';

/** One issuer's KV-kept signing keys. */
export interface KvSigningKeysOptions {
  client: VaultClient;
  algorithm: SigningAlgorithm;
  /** The issuer's folder in the mount; keys live at `<pathPrefix>/signing-keys`. */
  pathPrefix: string;
  /** The KV v2 mount; default `secret`. */
  mount?: string;
  /** The clock for key creation times; default the system clock. */
  now?: () => Date;
}

/** One stored key version. */
interface StoredKey {
  version: number;
  createdAt: string;
  privateJwk: JWK;
}

/** The KV entry: every key version that can still verify, oldest first. */
interface StoredKeys {
  algorithm: SigningAlgorithm;
  /** The highest version ever made, so numbers are never reused. */
  lastVersion: number;
  keys: StoredKey[];
}

/** The members of a private JWK that WebCrypto needs, and nothing else. */
const PRIVATE_MEMBERS = ['kty', 'crv', 'x', 'y', 'd', 'n', 'e', 'p', 'q', 'dp', 'dq', 'qi'];

function privateJwkOf(jwk: JWK): JWK {
  const source = jwk as Record<string, unknown>;
  return Object.fromEntries(
    PRIVATE_MEMBERS.filter((m) => typeof source[m] === 'string').map((m) => [m, source[m]]),
  );
}

/** SigningKeys kept in KV v2 and used in-process. */
export class KvSigningKeys implements SigningKeys {
  readonly algorithm: SigningAlgorithm;
  private readonly kv: KvV2;
  private readonly path: string;
  private readonly now: () => Date;
  /** Imported private keys by kid (a kid names one key pair, so entries never go stale). */
  private readonly imported = new Map<string, webcrypto.CryptoKey>();

  constructor(options: KvSigningKeysOptions) {
    this.algorithm = options.algorithm;
    this.kv = new KvV2({
      client: options.client,
      ...(options.mount === undefined ? {} : { mount: options.mount }),
    });
    this.path = `${options.pathPrefix}/signing-keys`;
    this.now = options.now ?? (() => new Date());
  }

  async ensure(): Promise<void> {
    if ((await this.read()) !== undefined) return;
    const stored: StoredKeys = { algorithm: this.algorithm, lastVersion: 1, keys: [await this.generate(1)] };
    try {
      await this.kv.write(this.path, stored, { cas: 0 });
    } catch (err) {
      // Another writer created it first: fine, if it holds keys for our algorithm.
      if (!(err instanceof TokensmithError) || err.code !== 'VaultConflict') throw err;
      await this.read();
    }
  }

  async list(): Promise<SigningKeyInfo[]> {
    const entry = await this.read();
    if (entry === undefined) return [];
    return Promise.all(entry.stored.keys.map((k) => this.info(k)));
  }

  async rotate(): Promise<void> {
    const entry = await this.read();
    if (entry === undefined) {
      await this.ensure();
      return;
    }
    const version = entry.stored.lastVersion + 1;
    const stored: StoredKeys = {
      ...entry.stored,
      lastVersion: version,
      keys: [...entry.stored.keys, await this.generate(version)],
    };
    await this.kv.write(this.path, stored, { cas: entry.version });
  }

  async retireBelow(version: number): Promise<void> {
    const entry = await this.read();
    const newest = entry?.stored.keys.at(-1);
    if (entry === undefined || newest === undefined) return;
    // The newest version always stays: it is the one that signs.
    const target = Math.min(version, newest.version);
    const keys = entry.stored.keys.filter((k) => k.version >= target);
    if (keys.length !== entry.stored.keys.length) {
      const written = await this.kv.write(this.path, { ...entry.stored, keys }, { cas: entry.version });
      // Older versions of the entry still hold the retired private keys: destroy them.
      const metadata = await this.kv.readMetadata(this.path);
      const older = Object.entries(metadata?.versions ?? {})
        .filter(([v, state]) => Number(v) < written && !state.destroyed)
        .map(([v]) => Number(v));
      await this.kv.destroyVersions(this.path, older);
      this.imported.clear();
    }
  }

  async sign(signingInput: Uint8Array, version: number): Promise<{ signature: Uint8Array; kid: string }> {
    const entry = await this.read();
    const signer = entry?.stored.keys.find((k) => k.version === version);
    if (signer === undefined) {
      throw new TokensmithError(
        'SigningFailed',
        `version ${version} of the signing key at ${this.kv.mount}/${this.path} is not there (retired, or not made yet)`,
      );
    }
    const { kid } = await this.info(signer);
    try {
      let key = this.imported.get(kid);
      if (key === undefined) {
        key = await crypto.subtle.importKey(
          'jwk',
          privateJwkOf(signer.privateJwk),
          ALGORITHMS[this.algorithm].keyAlgorithm,
          false,
          ['sign'],
        );
        this.imported.set(kid, key);
      }
      const signature = await crypto.subtle.sign(ALGORITHMS[this.algorithm].signAlgorithm, key, signingInput);
      return { signature: new Uint8Array(signature), kid };
    } catch {
      // WebCrypto's messages are generic, but nothing about a private key is worth the risk.
      throw new TokensmithError(
        'SigningFailed',
        `signing with version ${signer.version} of the ${this.algorithm} key failed`,
      );
    }
  }

  private info(key: StoredKey): Promise<SigningKeyInfo> {
    return signingKeyInfo(key.privateJwk, this.algorithm, key.version, key.createdAt);
  }

  private async generate(version: number): Promise<StoredKey> {
    const alg = this.algorithm === 'EdDSA' ? 'Ed25519' : this.algorithm;
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    return {
      version,
      createdAt: this.now().toISOString(),
      privateJwk: privateJwkOf(await exportJWK(privateKey)),
    };
  }

  private async read(): Promise<{ stored: StoredKeys; version: number } | undefined> {
    const entry: KvEntry | undefined = await this.kv.read(this.path);
    if (entry === undefined) return undefined;
    const stored = entry.data as Partial<StoredKeys>;
    const wellFormed = (k: unknown) =>
      typeof k === 'object' &&
      k !== null &&
      typeof (k as StoredKey).version === 'number' &&
      typeof (k as StoredKey).privateJwk === 'object';
    if (
      !Array.isArray(stored.keys) ||
      typeof stored.lastVersion !== 'number' ||
      !stored.keys.every(wellFormed)
    ) {
      throw new TokensmithError(
        'VaultRequestFailed',
        `the Vault entry ${this.kv.mount}/${this.path} does not hold signing keys`,
      );
    }
    if (stored.algorithm !== this.algorithm) {
      const held =
        typeof stored.algorithm === 'string' && stored.algorithm in ALGORITHMS
          ? stored.algorithm
          : 'another algorithm';
      throw new TokensmithError(
        'InvalidSpec',
        `the signing keys at ${this.kv.mount}/${this.path} are for ${held}, not ${this.algorithm}`,
      );
    }
    return { stored: stored as StoredKeys, version: entry.version };
  }
}
