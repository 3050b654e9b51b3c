/**
 * One Vault client, token store and signing key per issuer, built on first use and reused until
 * the issuer changes (new generation) or its credentials stop working. Clients of replaced
 * issuers are closed.
 */
import type { Metrics } from '../metrics/metrics.ts';
import type { Config } from '../config.ts';
import { isTokensmithError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Clock, IssuerKeyStateStore, RequestLimiter, SigningKeys } from '../ports.ts';
import { systemClock } from '../util/clock.ts';
import { VaultBreakers } from '../vault/breaker.ts';
import { VaultClient } from '../vault/client.ts';
import { VaultIssuerKeyState } from '../vault/issuerKeyState.ts';
import { createSigningKeys } from '../vault/signingKeys.ts';
import { VaultTokenStore } from '../vault/tokenStore.ts';
import { issuerVaultConnection, type CredentialSources } from './connection.ts';
import { defaultKeyName, defaultPathPrefix, issuerKey, type AnyIssuer } from './identity.ts';

/** What tokensmith uses of one issuer's Vault. */
export interface IssuerRuntime {
  client: VaultClient;
  store: VaultTokenStore;
  keys: SigningKeys;
  /** What survives a crash of the signing key's lifecycle (the rotate-key request handled). */
  keyState: IssuerKeyStateStore;
  /** KV mount and folder of the issuer, for its JWKS copy and for messages. */
  mount: string;
  pathPrefix: string;
}

interface Entry {
  version: string;
  runtime: Promise<IssuerRuntime>;
}

/** How often a Vault server that went down is asked whether it answers again. */
const PROBE_INTERVAL_MS = 2_000;

export class IssuerRuntimes {
  private readonly entries = new Map<string, Entry>();
  private readonly config: Config;
  private readonly sources: CredentialSources;
  /** The limiter of a Vault server, by address: each server has its own rate and concurrency. */
  private readonly limiter: (address: string) => RequestLimiter;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** One breaker per Vault address, shared by every issuer that names it. */
  private readonly metrics: Metrics | undefined;
  private readonly breakers: VaultBreakers;

  /** `clock` (default the system clock) dates the keys the kv backend makes. */
  constructor(options: {
    config: Config;
    sources: CredentialSources;
    limiter: (address: string) => RequestLimiter;
    log: Logger;
    clock?: Clock;
    /** Where Vault requests are counted and timed. */
    metrics?: Metrics;
  }) {
    this.config = options.config;
    this.metrics = options.metrics;
    this.sources = options.sources;
    this.limiter = options.limiter;
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.breakers = new VaultBreakers({ clock: this.clock });
    this.breakers.onDown((address) => {
      this.probeUntilBack(address);
    });
  }

  private readonly probing = new Set<string>();
  private closed = false;

  /**
   * Asks a server that went down for its health every 2 s until it answers, so the work that failed
   * on it is retried the moment it is back (onVaultRecovered), not after each key's own backoff.
   */
  private probeUntilBack(address: string): void {
    if (this.probing.has(address)) return;
    this.probing.add(address);
    const next = () =>
      this.clock.setTimer(() => {
        void probe();
      }, PROBE_INTERVAL_MS);
    const probe = async () => {
      const client = await this.clientFor(address);
      if (client && !this.closed && this.breakers.isDown(address)) await client.probe();
      if (!this.closed && this.breakers.isDown(address)) next();
      else this.probing.delete(address);
    };
    next();
  }

  /** A client of a built runtime that talks to `address`. */
  private async clientFor(address: string): Promise<VaultClient | undefined> {
    for (const entry of this.entries.values()) {
      const runtime = await entry.runtime.catch(() => undefined);
      if (runtime?.client.address === address) return runtime.client;
    }
    return undefined;
  }

  /** Calls `listener` when a Vault server that was down or misbehaving answers again. */
  onVaultRecovered(listener: (address: string) => void): void {
    this.breakers.onRecovered(listener);
  }

  /** The runtime of `issuer`, built if missing or stale. */
  async get(issuer: AnyIssuer): Promise<IssuerRuntime> {
    const key = issuerKey(issuer);
    const version = `${issuer.metadata?.uid ?? ''}/${issuer.metadata?.generation ?? 0}`;
    const existing = this.entries.get(key);
    if (existing && existing.version === version) return existing.runtime;
    if (existing) this.close(existing);
    const runtime = this.build(issuer);
    const entry = { version, runtime };
    this.entries.set(key, entry);
    runtime.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return runtime;
  }

  /** Runs `fn` with the issuer's runtime; an auth failure drops it so credentials are read again. */
  async use<T>(issuer: AnyIssuer, fn: (runtime: IssuerRuntime) => Promise<T>): Promise<T> {
    const runtime = await this.get(issuer);
    try {
      return await fn(runtime);
    } catch (err) {
      if (isTokensmithError(err, 'VaultAuthFailed')) this.forget(issuer);
      throw err;
    }
  }

  /** Drops the runtime of an issuer (deleted, or its credentials changed). */
  forget(issuer: AnyIssuer): void {
    const key = issuerKey(issuer);
    const entry = this.entries.get(key);
    if (entry) this.close(entry);
    this.entries.delete(key);
  }

  closeAll(): void {
    this.closed = true;
    for (const entry of this.entries.values()) this.close(entry);
    this.entries.clear();
  }

  private close(entry: Entry): void {
    entry.runtime.then(
      (r) => {
        r.client.close();
      },
      () => undefined,
    );
  }

  private async build(issuer: AnyIssuer): Promise<IssuerRuntime> {
    const connection = await issuerVaultConnection(issuer, this.config, this.sources);
    const log = this.log.child({ issuer: issuerKey(issuer) });
    const client = new VaultClient({
      ...connection,
      limiter: this.limiter,
      logger: log,
      timeoutMs: this.config.vault.timeoutMs,
      breaker: this.breakers,
      ...(this.metrics ? { metrics: this.metrics } : {}),
    });
    const mount = issuer.spec.vault?.mount ?? this.config.vault.kvMount;
    const pathPrefix =
      issuer.spec.vault?.pathPrefix ?? defaultPathPrefix(issuer, this.config.vault.pathPrefix);
    const signing = issuer.spec.signing ?? {};
    const algorithm = signing.algorithm ?? 'EdDSA';
    const keys =
      (signing.backend ?? 'transit') === 'kv'
        ? createSigningKeys({
            backend: 'kv',
            client,
            algorithm,
            mount,
            pathPrefix,
            now: () => this.clock.now(),
          })
        : createSigningKeys({
            backend: 'transit',
            client,
            algorithm,
            name: signing.keyName ?? defaultKeyName(issuer),
            mount: signing.transitMount ?? this.config.vault.transitMount,
          });
    return {
      client,
      store: new VaultTokenStore({ client, mount, pathPrefix }),
      keys,
      keyState: new VaultIssuerKeyState({ client, mount, pathPrefix }),
      mount,
      pathPrefix,
    };
  }
}
