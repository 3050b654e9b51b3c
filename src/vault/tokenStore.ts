/**
 * The TokenStore port on KV v2, for one issuer's location: a policy's record lives at
 * `<prefix>/policies/<namespace>/<name>` and the lookup index at `<prefix>/index/<sha256 hex>`.
 * Record writes are check-and-set, so two writers can never interleave; index keys must be
 * sha256 hex digests, so a token can never end up in a path by mistake.
 */
import type { PolicyTokenRecord, TokenIndexEntry } from '../core/records.ts';
import { recordProblem } from '../core/recordCheck.ts';
import { TokensmithError } from '../errors.ts';
import type { ObjectKey, TokenStore, Versioned } from '../ports.ts';
import type { VaultClient } from './client.ts';
import { KvV2 } from './kv.ts';

/** Where an issuer keeps its token records. */
export interface VaultTokenStoreOptions {
  client: VaultClient;
  /** The KV v2 mount; default `secret`. */
  mount?: string;
  /** The issuer's folder in the mount, e.g. `tokensmith/cluster/payments`. */
  pathPrefix: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function isIndexEntry(value: Record<string, unknown>): boolean {
  return (
    typeof value.namespace === 'string' &&
    typeof value.name === 'string' &&
    typeof value.version === 'number' &&
    (value.kind === 'token' ||
      value.kind === 'refreshToken' ||
      value.kind === 'grantToken' ||
      value.kind === 'grantRefreshToken')
  );
}

/** TokenStore on Vault KV v2. */
export class VaultTokenStore implements TokenStore {
  private readonly kv: KvV2;
  private readonly prefix: string;

  constructor(options: VaultTokenStoreOptions) {
    this.kv = new KvV2({
      client: options.client,
      ...(options.mount === undefined ? {} : { mount: options.mount }),
    });
    this.prefix = options.pathPrefix;
  }

  async read(policy: ObjectKey): Promise<Versioned<PolicyTokenRecord> | undefined> {
    const path = this.recordPath(policy);
    const entry = await this.kv.read(path);
    if (entry === undefined) return undefined;
    const problem = recordProblem(entry.data, policy);
    if (problem !== undefined) {
      throw new TokensmithError(
        'VaultRecordInvalid',
        `the Vault entry ${this.kv.mount}/${path} (version ${entry.version}) is not a token record tokensmith can act on: ${problem}. tokensmith does not overwrite it: restore or fix it in Vault (an earlier version: vault kv rollback), or delete it to issue the policy anew`,
      );
    }
    return { value: entry.data as unknown as PolicyTokenRecord, casVersion: entry.version };
  }

  /**
   * Writes the record if its current version is `casVersion` (0: there is none). A record whose
   * latest version was deleted or destroyed in Vault reads as absent while its path keeps that
   * version, so a first write with 0 would be refused forever: it is written over the deleted
   * version instead (still check-and-set, so a concurrent writer still conflicts).
   */
  async write(policy: ObjectKey, record: PolicyTokenRecord, casVersion: number): Promise<number> {
    const path = this.recordPath(policy);
    try {
      return await this.kv.write(path, record, { cas: casVersion });
    } catch (err) {
      if (casVersion !== 0 || !(err instanceof TokensmithError) || err.code !== 'VaultConflict') throw err;
      const metadata = await this.kv.readMetadata(path);
      const latest = metadata?.versions[String(metadata.currentVersion)];
      if (!metadata || !latest || (latest.deletionTime === '' && !latest.destroyed)) throw err;
      return this.kv.write(path, record, { cas: metadata.currentVersion });
    }
  }

  async destroy(policy: ObjectKey): Promise<void> {
    await this.kv.destroyAll(this.recordPath(policy));
  }

  async putIndex(tokenHash: string, entry: TokenIndexEntry): Promise<void> {
    await this.kv.write(this.indexPath(tokenHash), entry);
  }

  async getIndex(tokenHash: string): Promise<TokenIndexEntry | undefined> {
    const entry = await this.kv.read(this.indexPath(tokenHash));
    if (entry === undefined) return undefined;
    if (!isIndexEntry(entry.data)) {
      throw new TokensmithError(
        'VaultRequestFailed',
        'a Vault token index entry is not a tokensmith index entry',
      );
    }
    return entry.data as unknown as TokenIndexEntry;
  }

  async deleteIndex(tokenHash: string): Promise<void> {
    await this.kv.destroyAll(this.indexPath(tokenHash));
  }

  private recordPath(policy: ObjectKey): string {
    if (!NAME.test(policy.namespace) || !NAME.test(policy.name)) {
      throw new TokensmithError('InvalidSpec', 'a policy namespace and name must be Kubernetes names');
    }
    return `${this.prefix}/policies/${policy.namespace}/${policy.name}`;
  }

  private indexPath(tokenHash: string): string {
    // Never echo the value: if it is not a digest, it may be the token itself.
    if (!SHA256_HEX.test(tokenHash)) {
      throw new TokensmithError('InvalidSpec', 'a token index key must be a lowercase sha256 hex digest');
    }
    return `${this.prefix}/index/${tokenHash}`;
  }
}
