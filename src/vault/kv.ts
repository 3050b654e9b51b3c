/**
 * KV version 2 on top of a VaultClient: read (latest or a given version), write with
 * check-and-set, list, metadata, destroy versions, and destroy all. node-vault has no KV v2 helpers; these speak the
 * HTTP API (`<mount>/data/…`, `<mount>/metadata/…`) directly.
 */
import { TokensmithError } from '../errors.ts';
import { dataOf, type VaultClient } from './client.ts';
import { displayPath } from './errors.ts';
import { vaultPath } from './paths.ts';

/** One version of a KV v2 entry. */
export interface KvEntry {
  data: Record<string, unknown>;
  /** The version read; pass it as `cas` to write only if nobody wrote since. */
  version: number;
  createdTime: string;
}

/** The metadata of a KV v2 entry. */
export interface KvMetadata {
  currentVersion: number;
  oldestVersion: number;
  createdTime: string;
  updatedTime: string;
  /** By version number. */
  versions: Record<string, { createdTime: string; deletionTime: string; destroyed: boolean }>;
}

/** Options of a KvV2. */
export interface KvV2Options {
  client: VaultClient;
  /** The KV v2 mount; default `secret`. */
  mount?: string;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** KV v2 entries under one mount. Paths are relative to the mount and encoded here. */
export class KvV2 {
  readonly mount: string;
  private readonly client: VaultClient;

  constructor(options: KvV2Options) {
    this.client = options.client;
    this.mount = options.mount ?? 'secret';
  }

  /** The latest (or the given) version of the entry at `path`; undefined if none or deleted. */
  async read(path: string, options: { version?: number } = {}): Promise<KvEntry | undefined> {
    const apiPath = vaultPath(this.mount, 'data', path);
    const query = options.version === undefined ? undefined : { version: options.version };
    const body = await this.client.read(apiPath, 'read a KV entry', query);
    const outer = dataOf(body);
    const data = record(outer?.data);
    const metadata = record(outer?.metadata);
    if (data === undefined || metadata === undefined) return undefined;
    const version = metadata.version;
    if (typeof version !== 'number') {
      throw new TokensmithError(
        'VaultRequestFailed',
        `Vault returned a KV entry without a version (${displayPath(apiPath)})`,
      );
    }
    return { data, version, createdTime: str(metadata.created_time) };
  }

  /**
   * Writes a new version of the entry at `path` and returns its version number. With `cas`, Vault
   * writes only if the current version is `cas` (0: only if the entry does not exist), else this
   * throws TokensmithError('VaultConflict').
   */
  async write(path: string, data: object, options: { cas?: number } = {}): Promise<number> {
    const apiPath = vaultPath(this.mount, 'data', path);
    const body = await this.client.write(
      apiPath,
      options.cas === undefined ? { data } : { options: { cas: options.cas }, data },
      'write a KV entry',
    );
    const version = dataOf(body)?.version;
    if (typeof version !== 'number') {
      throw new TokensmithError(
        'VaultRequestFailed',
        `Vault did not say which version it wrote (${displayPath(apiPath)})`,
      );
    }
    return version;
  }

  /** The keys directly under `path` (sub-folders end in `/`); empty if there are none. */
  list(path: string): Promise<string[]> {
    return this.client.list(vaultPath(this.mount, 'metadata', path), 'list KV entries');
  }

  /** The entry's metadata (versions and their state); undefined if the entry does not exist. */
  async readMetadata(path: string): Promise<KvMetadata | undefined> {
    const body = await this.client.read(vaultPath(this.mount, 'metadata', path), 'read KV metadata');
    const data = dataOf(body);
    if (data === undefined) return undefined;
    const versions: KvMetadata['versions'] = {};
    for (const [key, value] of Object.entries(record(data.versions) ?? {})) {
      const v = record(value) ?? {};
      versions[key] = {
        createdTime: str(v.created_time),
        deletionTime: str(v.deletion_time),
        destroyed: v.destroyed === true,
      };
    }
    return {
      currentVersion: typeof data.current_version === 'number' ? data.current_version : 0,
      oldestVersion: typeof data.oldest_version === 'number' ? data.oldest_version : 0,
      createdTime: str(data.created_time),
      updatedTime: str(data.updated_time),
      versions,
    };
  }

  /** Permanently destroys the data of the given versions (the metadata stays). */
  async destroyVersions(path: string, versions: number[]): Promise<void> {
    if (versions.length === 0) return;
    await this.client.write(
      vaultPath(this.mount, 'destroy', path),
      { versions },
      'destroy KV entry versions',
    );
  }

  /** Permanently removes every version of the entry and its metadata. Succeeds if there is none. */
  destroyAll(path: string): Promise<void> {
    return this.client.delete(vaultPath(this.mount, 'metadata', path), 'destroy a KV entry');
  }
}
