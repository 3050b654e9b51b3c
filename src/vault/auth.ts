/**
 * How tokensmith logs in to Vault (a static token, AppRole or Kubernetes auth) and keeps a usable
 * Vault token: it logs in lazily, remembers the token's TTL, logs in again before the TTL runs out
 * and once when Vault rejects the token. node-vault's renewal helpers are not used: they stop for
 * good after one failed renewal, while a fresh login recovers from anything that can be recovered.
 */
import { TokensmithError } from '../errors.ts';
import { vaultError } from './errors.ts';
import { vaultPath } from './paths.ts';

/** A Vault token given as is (e.g. from a Secret). It cannot be renewed by logging in again. */
export interface TokenAuth {
  method: 'token';
  token: string;
}

/** AppRole auth: role id and secret id, at `mountPath` (default `approle`). */
export interface AppRoleAuth {
  method: 'appRole';
  /** Default `approle`. */
  mountPath?: string;
  roleId: string;
  secretId: string;
}

/** Kubernetes auth with a service-account token, at `mountPath` (default `kubernetes`). */
export interface KubernetesAuth {
  method: 'kubernetes';
  /** Default `kubernetes`. */
  mountPath?: string;
  role: string;
  /**
   * Called at each login for a fresh service-account JWT (the projected token file or a
   * TokenRequest), since such tokens expire.
   */
  jwt: () => Promise<string>;
}

/** How a connection logs in to Vault, chosen by `method`. */
export type VaultAuth = TokenAuth | AppRoleAuth | KubernetesAuth;

/** A Vault token from a login, with its TTL in seconds (0: it does not expire). */
export interface VaultLogin {
  token: string;
  ttlSeconds: number;
}

/** Sends one unauthenticated POST to Vault and resolves to the response body (errors mapped). */
export type VaultLoginPost = (path: string, body: object) => Promise<unknown>;

/** The auth mount path of a method, defaulted. */
export function authMountOf(auth: VaultAuth): string | undefined {
  if (auth.method === 'appRole') return auth.mountPath ?? 'approle';
  if (auth.method === 'kubernetes') return auth.mountPath ?? 'kubernetes';
  return undefined;
}

/** Reads `auth.client_token` and `auth.lease_duration` from a login response. */
function loginResultOf(body: unknown, path: string): VaultLogin {
  const auth = typeof body === 'object' && body !== null && 'auth' in body ? body.auth : undefined;
  if (typeof auth === 'object' && auth !== null && 'client_token' in auth) {
    const token = auth.client_token;
    const ttl = 'lease_duration' in auth ? auth.lease_duration : 0;
    if (typeof token === 'string' && token !== '') {
      return { token, ttlSeconds: typeof ttl === 'number' && ttl > 0 ? ttl : 0 };
    }
  }
  throw new TokensmithError('VaultAuthFailed', `the Vault login at ${path} returned no client token`);
}

/**
 * Logs in once with AppRole or Kubernetes auth. `post` sends the request; this function builds
 * it, gets a fresh JWT for Kubernetes auth, and reads the token out of the answer.
 */
export async function loginOnce(
  auth: AppRoleAuth | KubernetesAuth,
  post: VaultLoginPost,
): Promise<VaultLogin> {
  const path = `auth/${vaultPath(authMountOf(auth) ?? '')}/login`;
  if (auth.method === 'appRole') {
    return loginResultOf(await post(path, { role_id: auth.roleId, secret_id: auth.secretId }), path);
  }
  let jwt: string;
  try {
    jwt = await auth.jwt();
  } catch (err) {
    // The provider's error may come from the Kubernetes client, whose messages embed bodies.
    const reason = err instanceof TokensmithError ? `: ${err.message}` : '';
    throw new TokensmithError(
      'VaultAuthFailed',
      `could not get a service-account token for Vault's Kubernetes auth at ${path}${reason}`,
    );
  }
  return loginResultOf(await post(path, { role: auth.role, jwt }), path);
}

/** The minimal logger the Vault layer writes to (a pino logger fits). */
export interface VaultLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of a VaultSession. */
export interface VaultSessionOptions {
  auth: VaultAuth;
  /** Sends a login request (through the connection's limiter, errors mapped). */
  post: VaultLoginPost;
  /** Milliseconds since the epoch; default Date.now. */
  now?: () => number;
  /**
   * Fraction of a token's TTL after which the next request logs in again first; default 0.75,
   * which leaves a quarter of the TTL for slow requests and clock drift.
   */
  refreshAfter?: number;
  logger?: VaultLogger;
}

/** Holds the Vault token of one connection and logs in whenever a new one is needed. */
export class VaultSession {
  private readonly options: VaultSessionOptions;
  private readonly now: () => number;
  private current: { token: string; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(options: VaultSessionOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Whether a rejected token can be replaced by logging in again (not for the token method). */
  get canLogin(): boolean {
    return this.options.auth.method !== 'token';
  }

  /** A token to send: the current one, or a fresh login's when there is none or it is old. */
  async token(): Promise<string> {
    const auth = this.options.auth;
    if (auth.method === 'token') return auth.token;
    if (this.current !== undefined && this.now() < this.current.refreshAt) return this.current.token;
    this.pending ??= this.login(auth).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forgets `token` (Vault rejected it), unless a newer login already replaced it. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }

  private async login(auth: AppRoleAuth | KubernetesAuth): Promise<string> {
    const mountPath = authMountOf(auth);
    let result: VaultLogin;
    try {
      result = await loginOnce(auth, this.options.post);
    } catch (err) {
      throw vaultError(err, {
        operation: `log in with ${auth.method} auth`,
        path: `auth/${mountPath}/login`,
        login: true,
      });
    }
    const fraction = this.options.refreshAfter ?? 0.75;
    const refreshAt =
      result.ttlSeconds > 0 ? this.now() + result.ttlSeconds * 1000 * fraction : Number.POSITIVE_INFINITY;
    this.current = { token: result.token, refreshAt };
    this.options.logger?.info(
      { vaultAuth: auth.method, mountPath, ttlSeconds: result.ttlSeconds },
      'logged in to Vault',
    );
    return result.token;
  }
}
