/**
 * SigningKeys on Vault's transit engine: the private key never leaves Vault. One transit key per
 * issuer; each transit key version is one signing key version. Signing sends the JWS signing
 * input to `<mount>/sign/<name>`; public keys come from `<mount>/keys/<name>` and are turned
 * into JWKs here.
 */
import { base64url, exportJWK, importSPKI, type JWK } from 'jose';
import { TokensmithError } from '../errors.ts';
import type { SigningAlgorithm, SigningKeyInfo, SigningKeys } from '../ports.ts';
import { dataOf, type VaultClient } from './client.ts';
import { vaultPath } from './paths.ts';
import { ALGORITHMS, isoTime, signingKeyInfo } from './signingAlgorithms.ts';

/** One transit key of one issuer. */
export interface TransitSigningKeysOptions {
  client: VaultClient;
  algorithm: SigningAlgorithm;
  /** The transit key's name, e.g. the issuer's name. */
  name: string;
  /** The transit mount; default `transit`. */
  mount?: string;
  /**
   * Whether ensure() may enable the transit engine at `mount` when nothing is mounted there
   * (needs `sys/mounts` permission); default false, which makes a missing mount an error.
   */
  enableMount?: boolean;
}

/** What `GET <mount>/keys/<name>` says about a key. */
interface TransitKey {
  type: string;
  latestVersion: number;
  minDecryptionVersion: number;
  /** 0 means none set. */
  minEncryptionVersion: number;
  minAvailableVersion: number;
  versions: { version: number; publicKey: string; creationTime: string }[];
}

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

function transitKeyOf(data: Record<string, unknown>): TransitKey {
  const keys =
    typeof data.keys === 'object' && data.keys !== null ? (data.keys as Record<string, unknown>) : {};
  const versions = Object.entries(keys).map(([version, value]) => {
    const v = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    return {
      version: Number(version),
      publicKey: typeof v.public_key === 'string' ? v.public_key : '',
      creationTime: typeof v.creation_time === 'string' ? v.creation_time : '',
    };
  });
  return {
    type: typeof data.type === 'string' ? data.type : '',
    latestVersion: num(data.latest_version, 0),
    minDecryptionVersion: num(data.min_decryption_version, 1),
    minEncryptionVersion: num(data.min_encryption_version, 0),
    minAvailableVersion: num(data.min_available_version, 0),
    versions: versions.sort((a, b) => a.version - b.version),
  };
}

/** SigningKeys backed by one transit key. */
export class TransitSigningKeys implements SigningKeys {
  readonly algorithm: SigningAlgorithm;
  private readonly client: VaultClient;
  private readonly mount: string;
  private readonly name: string;
  private readonly enableMount: boolean;
  /** kid by key version, refreshed by every list(); a version's public key never changes. */
  private readonly kids = new Map<number, string>();

  constructor(options: TransitSigningKeysOptions) {
    this.client = options.client;
    this.algorithm = options.algorithm;
    this.mount = options.mount ?? 'transit';
    this.name = options.name;
    this.enableMount = options.enableMount ?? false;
  }

  async ensure(): Promise<void> {
    if ((await this.readKey()) === undefined) {
      await this.createKey();
    }
    const key = await this.readKey();
    if (key === undefined) {
      throw new TokensmithError(
        'VaultRequestFailed',
        `the transit key ${this.keyPath()} vanished after it was created`,
      );
    }
    this.checkType(key);
  }

  async list(): Promise<SigningKeyInfo[]> {
    const key = await this.readKey();
    if (key === undefined) return [];
    this.checkType(key);
    const infos: SigningKeyInfo[] = [];
    for (const v of key.versions) {
      if (v.version < key.minDecryptionVersion || v.version < key.minAvailableVersion) continue;
      const jwk = await this.publicJwk(v.publicKey, v.version);
      infos.push(await signingKeyInfo(jwk, this.algorithm, v.version, isoTime(v.creationTime)));
    }
    this.kids.clear();
    for (const info of infos) this.kids.set(info.version, info.kid);
    return infos;
  }

  async rotate(): Promise<void> {
    await this.client.write(`${this.keyPath()}/rotate`, {}, 'rotate the transit signing key');
  }

  async retireBelow(version: number): Promise<void> {
    const key = await this.readKey();
    if (key === undefined) return;
    // The newest version always stays: it is the one that signs.
    const target = Math.min(version, key.latestVersion);
    // Vault trims only below min_encryption_version too (signing still uses the newest version).
    const config: Record<string, number> = {};
    if (target > key.minDecryptionVersion) config.min_decryption_version = target;
    if (target > key.minEncryptionVersion) config.min_encryption_version = target;
    if (Object.keys(config).length > 0) {
      await this.client.write(`${this.keyPath()}/config`, config, 'retire old transit signing key versions');
    }
    if (target > key.minAvailableVersion) {
      await this.client.write(
        `${this.keyPath()}/trim`,
        { min_available_version: target },
        'delete old transit signing key versions',
      );
    }
    for (const v of this.kids.keys()) if (v < target) this.kids.delete(v);
  }

  async sign(signingInput: Uint8Array, version: number): Promise<{ signature: Uint8Array; kid: string }> {
    const path = vaultPath(this.mount, 'sign', this.name);
    const body: Record<string, string | number> = {
      input: Buffer.from(signingInput).toString('base64'),
      key_version: version,
    };
    if (this.algorithm !== 'EdDSA') body.hash_algorithm = 'sha2-256';
    if (this.algorithm === 'RS256') body.signature_algorithm = 'pkcs1v15';
    if (this.algorithm === 'ES256') body.marshaling_algorithm = 'jws';
    const data = dataOf(await this.client.write(path, body, 'sign with the transit key'));
    const match = typeof data?.signature === 'string' ? /^vault:v(\d+):(.+)$/.exec(data.signature) : null;
    if (match?.[1] === undefined || match[2] === undefined) {
      throw new TokensmithError(
        'SigningFailed',
        `Vault returned no signature in the expected form (${path})`,
      );
    }
    if (Number(match[1]) !== version) {
      throw new TokensmithError(
        'SigningFailed',
        `Vault signed with version ${match[1]} of ${this.keyPath()}, not the requested ${version}`,
      );
    }
    const signature = new Uint8Array(
      Buffer.from(match[2], this.algorithm === 'ES256' ? 'base64url' : 'base64'),
    );
    const expected = this.algorithm === 'RS256' ? 256 : 64;
    if (signature.length < expected || (this.algorithm !== 'RS256' && signature.length !== expected)) {
      throw new TokensmithError(
        'SigningFailed',
        `Vault returned a ${this.algorithm} signature of unexpected length`,
      );
    }
    if (!this.kids.has(version)) await this.list();
    const kid = this.kids.get(version);
    if (kid === undefined) {
      throw new TokensmithError(
        'SigningFailed',
        `transit key version ${version} of ${this.keyPath()} is not listed`,
      );
    }
    return { signature, kid };
  }

  private keyPath(): string {
    return vaultPath(this.mount, 'keys', this.name);
  }

  private async readKey(): Promise<TransitKey | undefined> {
    const data = dataOf(await this.client.read(this.keyPath(), 'read the transit signing key'));
    return data === undefined ? undefined : transitKeyOf(data);
  }

  private async createKey(): Promise<void> {
    const create = () =>
      this.client.write(
        this.keyPath(),
        { type: ALGORITHMS[this.algorithm].transitType, exportable: false, allow_plaintext_backup: false },
        'create the transit signing key',
      );
    try {
      await create();
      return;
    } catch (err) {
      // A 404 on create means no transit engine is mounted there.
      if (!(err instanceof TokensmithError) || err.status !== 404) throw err;
    }
    if (!this.enableMount) {
      throw new TokensmithError(
        'VaultRequestFailed',
        `no transit secrets engine is mounted at ${this.mount}/ (enable one there, or let tokensmith enable it)`,
        { status: 404 },
      );
    }
    try {
      await this.client.write(
        vaultPath('sys/mounts', this.mount),
        { type: 'transit', description: 'tokensmith JWT signing keys' },
        'enable the transit secrets engine',
      );
    } catch (err) {
      // 400: the path is in use, e.g. a concurrent ensure() enabled it first; creating will tell.
      if (!(err instanceof TokensmithError) || err.status !== 400) throw err;
    }
    await create();
  }

  private checkType(key: TransitKey): void {
    if (!ALGORITHMS[this.algorithm].transitTypes.includes(key.type)) {
      throw new TokensmithError(
        'InvalidSpec',
        `the transit key ${this.keyPath()} has type ${key.type}, which cannot sign ${this.algorithm} (needs ${ALGORITHMS[this.algorithm].transitType})`,
      );
    }
  }

  private async publicJwk(publicKey: string, version: number): Promise<JWK> {
    try {
      if (this.algorithm === 'EdDSA') {
        const raw = Buffer.from(publicKey, 'base64');
        if (raw.length !== 32) throw new Error('not 32 bytes');
        return { kty: 'OKP', crv: 'Ed25519', x: base64url.encode(raw) };
      }
      return await exportJWK(await importSPKI(publicKey, this.algorithm, { extractable: true }));
    } catch {
      throw new TokensmithError(
        'SigningFailed',
        `the public key of version ${version} of the transit key ${this.keyPath()} could not be read`,
      );
    }
  }
}
