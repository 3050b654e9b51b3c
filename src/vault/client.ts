/**
 * One connection to Vault, built on node-vault: TLS with a CA bundle and an optional server-name
 * override, a login session (src/vault/auth.ts), a request limiter, and errors mapped to the
 * catalogue at this boundary. Every adapter in src/vault sends its requests through here.
 *
 * The process environment is not consulted: VAULT_SKIP_VERIFY, VAULT_TOKEN, VAULT_PREFIX and
 * VAULT_NAMESPACE, which node-vault would otherwise honour, have no effect, and node-vault's debug
 * output (which prints request bodies) is switched off.
 */
import type { Metrics } from '../metrics/metrics.ts';
import { Agent as PlainAgent } from 'node:http';
import { Agent } from 'node:https';
import vault from 'node-vault';
import { TokensmithError } from '../errors.ts';
import type { RequestLimiter } from '../ports.ts';
import { VaultSession, type VaultAuth, type VaultLogger } from './auth.ts';
import { displayPath, vaultError, vaultErrorsOf, vaultStatusOf } from './errors.ts';
import type { VaultBreakerPort } from './breaker.ts';
import { DEFAULT_MAX_RESPONSE_BYTES, VaultTransportError, vaultTransport } from './transport.ts';

/** How to reach and log in to one Vault. */
export interface VaultConnection {
  /** Base URL, e.g. `https://vault.vault.svc:8200`. */
  address: string;
  /** PEM CA bundle that signs Vault's certificate; default: Node's public roots. */
  caPem?: string;
  /** The name to check Vault's certificate against (and send as SNI); default: the address host. */
  tlsServerName?: string;
  auth: VaultAuth;
  /**
   * Bounds rate and concurrency; every request, logins included, goes through it. A function is
   * asked for the limiter of this client's server (its normalised address), so that each Vault
   * server has limits of its own. Default: none.
   */
  limiter?: RequestLimiter | ((address: string) => RequestLimiter);
  logger?: VaultLogger;
  /** Deadline of each request as a whole (connect to last byte), in milliseconds; default 10 000. */
  timeoutMs?: number;
  /** The largest response accepted, in bytes; default 4 MiB. */
  maxResponseBytes?: number;
  /** Fails requests at once while this server misbehaved recently (see breaker.ts). Default: none. */
  breaker?: VaultBreakerPort;
  /** Where requests are counted and timed (by operation and status code). */
  metrics?: Pick<Metrics, 'vaultRequests' | 'vaultDuration'>;
  /** Milliseconds since the epoch, for token TTLs; default Date.now. */
  now?: () => number;
}

/** The HTTP methods the adapters use (LIST is sent as GET with `list=true`). */
export type VaultMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One request to the Vault HTTP API. */
export interface VaultRequest {
  method: VaultMethod;
  /** The API path below `/v1/`, already encoded (see vaultPath), e.g. `secret/data/a/b`. */
  path: string;
  /** Query parameters, e.g. `{ version: 3 }` or `{ list: 'true' }`. */
  query?: Record<string, string | number>;
  body?: object;
  /** A verb phrase for error messages, e.g. `read the token record`. */
  operation: string;
  /** Resolve to undefined on HTTP 404 instead of throwing. Default false. */
  allowNotFound?: boolean;
  /** Sent even while the breaker is open (a probe: does the server answer again?). */
  probe?: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** A Vault connection. Create one per Vault address and credentials; call close() when done. */
export class VaultClient {
  readonly address: string;
  private readonly raw: vault.client;
  private readonly agent: Agent | PlainAgent;
  private readonly session: VaultSession;
  private readonly limiter: RequestLimiter | undefined;
  private readonly logger: VaultLogger | undefined;
  private readonly breaker: VaultBreakerPort | undefined;
  private readonly metrics: Pick<Metrics, 'vaultRequests' | 'vaultDuration'> | undefined;

  constructor(connection: VaultConnection) {
    const url = parseAddress(connection.address);
    this.address = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
    this.limiter =
      typeof connection.limiter === 'function' ? connection.limiter(this.address) : connection.limiter;
    this.logger = connection.logger;
    this.breaker = connection.breaker;
    this.metrics = connection.metrics;
    const timeout = connection.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const tls = {
      rejectUnauthorized: true,
      ...(connection.caPem === undefined ? {} : { ca: connection.caPem }),
      ...(connection.tlsServerName === undefined ? {} : { servername: connection.tlsServerName }),
    };
    this.agent =
      url.protocol === 'http:' ? new PlainAgent({ keepAlive: true }) : new Agent({ ...tls, keepAlive: true });
    const options: vault.VaultOptions & { 'request-promise': object } = {
      apiVersion: 'v1',
      endpoint: this.address,
      // Our transport: certificate checks on whatever VAULT_SKIP_VERIFY says, no redirects, a total
      // deadline and a response size cap (see transport.ts); the agent is ours, so close() ends it.
      'request-promise': vaultTransport(this.agent, {
        deadlineMs: timeout,
        maxResponseBytes: connection.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      }),
      debug: () => undefined,
    };
    this.raw = vault(options);
    // node-vault falls back to VAULT_TOKEN, VAULT_PREFIX and VAULT_NAMESPACE: undo that.
    this.raw.token = '';
    Object.assign(this.raw, { pathPrefix: '', namespace: undefined });
    this.session = new VaultSession({
      auth: connection.auth,
      post: (path, body) => this.send({ method: 'POST', path, body, operation: 'log in' }, undefined),
      ...(connection.now === undefined ? {} : { now: connection.now }),
      ...(connection.logger === undefined ? {} : { logger: connection.logger }),
    });
  }

  /**
   * Sends an authenticated request and resolves to the response body (undefined for 204, or for
   * 404 with allowNotFound). When Vault answers 403 and the token itself turns out to be invalid
   * (revoked or expired), it logs in once more and retries; a second refusal is final.
   */
  async request(request: VaultRequest): Promise<unknown> {
    const token = await this.session.token();
    try {
      return await this.send(request, token);
    } catch (err) {
      if (vaultStatusOf(err) === 404 && request.allowNotFound === true) return undefined;
      if (vaultStatusOf(err) !== 403 || (await this.tokenIsValid(err, token))) throw vaultError(err, request);
      if (!this.session.canLogin) {
        throw new TokensmithError(
          'VaultAuthFailed',
          `Vault refused to ${request.operation} (${displayPath(request.path)}) with HTTP 403: the configured Vault token is invalid or expired`,
          { status: 403 },
        );
      }
    }
    this.session.invalidate(token);
    this.logger?.warn({ vaultPath: displayPath(request.path) }, 'Vault rejected its token; logging in again');
    const fresh = await this.session.token();
    try {
      return await this.send(request, fresh);
    } catch (err) {
      if (vaultStatusOf(err) === 404 && request.allowNotFound === true) return undefined;
      throw vaultError(err, request);
    }
  }

  /**
   * Asks the unauthenticated health endpoint, past an open breaker: whether the server answers at
   * all (any HTTP status closes the breaker). Never throws.
   */
  async probe(): Promise<boolean> {
    try {
      await this.send(
        { method: 'GET', path: 'sys/health', operation: 'check health', probe: true },
        undefined,
      );
      return true;
    } catch (err) {
      return vaultStatusOf(err) !== undefined;
    }
  }

  /** GET `path`; undefined when Vault holds nothing there (404). */
  read(path: string, operation: string, query?: VaultRequest['query']): Promise<unknown> {
    return this.request({ method: 'GET', path, operation, allowNotFound: true, ...(query ? { query } : {}) });
  }

  /** POST `body` to `path`; resolves to the response body, if any. */
  write(path: string, body: object, operation: string): Promise<unknown> {
    return this.request({ method: 'POST', path, body, operation });
  }

  /** The keys listed under `path` (folders end in `/`); empty when there are none (404). */
  async list(path: string, operation: string): Promise<string[]> {
    const body = await this.request({
      method: 'GET',
      path,
      query: { list: 'true' },
      operation,
      allowNotFound: true,
    });
    const keys = dataOf(body)?.keys;
    return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [];
  }

  /** DELETE `path`; succeeds when there was nothing to delete. */
  async delete(path: string, operation: string): Promise<void> {
    await this.request({ method: 'DELETE', path, operation, allowNotFound: true });
  }

  /** Closes idle keep-alive connections. The client must not be used afterwards. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * Whether a token that got a 403 is itself still valid, i.e. the policy denied the request.
   * Vault adds "invalid token" to the 403 of a revoked or expired token; where it does not (other
   * versions, OpenBao), a lookup-self settles it.
   */
  private async tokenIsValid(err: unknown, token: string): Promise<boolean> {
    if (vaultErrorsOf(err).some((e) => e.includes('invalid token'))) return false;
    try {
      await this.send(
        { method: 'GET', path: 'auth/token/lookup-self', operation: 'look up its own token' },
        token,
      );
      return true;
    } catch (lookupErr) {
      if (vaultStatusOf(lookupErr) === 403) return false;
      throw vaultError(lookupErr, { operation: 'look up its own token', path: 'auth/token/lookup-self' });
    }
  }

  /** One HTTP exchange through the limiter; rejects with node-vault's raw error (map it!). */
  private send(request: VaultRequest, token: string | undefined): Promise<unknown> {
    const query =
      request.query === undefined
        ? ''
        : `?${new URLSearchParams(Object.entries(request.query).map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    const options = {
      method: request.method,
      path: `/${request.path}${query}`,
      headers: token === undefined ? {} : { 'X-Vault-Token': token },
      ...(request.body === undefined ? {} : { json: request.body }),
    };
    const breaker = this.breaker;
    const metrics = this.metrics;
    const measured = metrics
      ? async (call: () => Promise<unknown>) => {
          const started = performance.now();
          let code = 'error';
          try {
            const body = await call();
            code = '200';
            return body;
          } catch (err) {
            code = String(vaultStatusOf(err) ?? 'error');
            throw err;
          } finally {
            metrics.vaultRequests.inc({ operation: request.operation, code });
            metrics.vaultDuration.observe(
              { operation: request.operation },
              (performance.now() - started) / 1000,
            );
          }
        }
      : (call: () => Promise<unknown>) => call();
    const run = breaker
      ? async () => {
          if (request.probe !== true) breaker.check(this.address);
          try {
            const body = (await this.raw.request(options)) as unknown;
            breaker.answered(this.address);
            return body;
          } catch (err) {
            if (vaultStatusOf(err) !== undefined) breaker.answered(this.address);
            else if (err instanceof VaultTransportError && err.code !== 'ERR_RESPONSE_NOT_JSON')
              breaker.misbehaved(this.address);
            else if (!(err instanceof VaultTransportError)) breaker.unreachable(this.address);
            throw err;
          }
        }
      : () => this.raw.request(options) as Promise<unknown>;
    return this.limiter ? this.limiter.run(() => measured(run)) : measured(run);
  }
}

/** The `data` object of a Vault response, if it has one. */
export function dataOf(body: unknown): Record<string, unknown> | undefined {
  if (typeof body !== 'object' || body === null || !('data' in body)) return undefined;
  const data = body.data;
  return typeof data === 'object' && data !== null && !Array.isArray(data)
    ? (data as Record<string, unknown>)
    : undefined;
}

function parseAddress(address: string): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TokensmithError('InvalidSpec', 'the Vault address is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TokensmithError('InvalidSpec', 'the Vault address must start with https:// (or http://)');
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new TokensmithError('InvalidSpec', 'the Vault address may hold no credentials, query or fragment');
  }
  return url;
}
