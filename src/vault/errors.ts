/**
 * The boundary between node-vault's errors and tokensmith's catalogue. node-vault rejects with
 * errors that carry whole response bodies (`err.response.body`) or, for transport failures, raw
 * AxiosErrors whose `config` holds the request headers (X-Vault-Token) and body (secret ids, KV
 * data). Nothing of those objects survives here: the TokensmithError is built from the HTTP
 * status, a transport error code matched against a closed pattern, and messages written here, and
 * it carries no `cause`.
 */
import { TokensmithError, type ErrorCode } from '../errors.ts';
import { VaultTransportError } from './transport.ts';

/** What a failed request was doing, for the message a person reads. */
export interface VaultOperation {
  /** A verb phrase, e.g. `read the token record`. */
  operation: string;
  /** The Vault API path (names and hashes only, never token material; digests are shortened). */
  path: string;
  /** A login request: a refusal means the credentials were rejected (VaultAuthFailed). */
  login?: boolean;
}

/**
 * A Vault path as shown to people: sha256 hex digests (token index keys) are cut to their first
 * 12 digits, like the fingerprints in status, so messages and logs never hold a full lookup key.
 */
export function displayPath(path: string): string {
  return path.replace(/\b([0-9a-f]{12})[0-9a-f]{52}\b/g, '$1…');
}

/** Transport error codes that mean the TLS handshake or certificate check failed. */
const TLS_CODE =
  /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_|EPROTO$|HOSTNAME_MISMATCH$|ERR_OSSL_)/;
/** Transport error codes that mean Vault could not be reached or did not answer in time. */
const UNREACHABLE_CODE =
  /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|EPIPE|ERR_NETWORK|ERR_SOCKET_\w+|UND_ERR_\w+)$/;

/** The HTTP status of a node-vault API error, or undefined for a transport or other error. */
export function vaultStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('response' in err)) return undefined;
  const response = err.response;
  if (typeof response !== 'object' || response === null || !('statusCode' in response)) return undefined;
  return typeof response.statusCode === 'number' ? response.statusCode : undefined;
}

/**
 * The `errors` strings of a Vault API error response. For classification only: they are never
 * copied into a message, since they are part of the response body.
 */
export function vaultErrorsOf(err: unknown): string[] {
  if (typeof err !== 'object' || err === null || !('response' in err)) return [];
  const response = err.response;
  if (typeof response !== 'object' || response === null || !('body' in response)) return [];
  const body = response.body;
  if (typeof body !== 'object' || body === null || !('errors' in body) || !Array.isArray(body.errors)) {
    return [];
  }
  return body.errors.filter((e): e is string => typeof e === 'string');
}

/** A transport error code such as ECONNREFUSED, if it has the shape of one (never free text). */
function transportCodeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = err.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : undefined;
}

/** Our own description of what Vault's error strings say, from a closed set of patterns. */
function hintFor(errors: string[]): string | undefined {
  const text = errors.join('\n').toLowerCase();
  if (text.includes('check-and-set')) return 'the entry changed since it was read (check-and-set)';
  if (text.includes('no handler for route')) return 'nothing is mounted at this path';
  if (text.includes('invalid token') || text.includes('token is expired')) {
    return 'the Vault token is invalid or expired';
  }
  if (text.includes('sealed')) return 'Vault is sealed';
  if (text.includes('standby')) return 'this Vault node is a standby';
  return undefined;
}

function codeForStatus(status: number, errors: string[], login: boolean): ErrorCode {
  if (errors.some((e) => e.toLowerCase().includes('check-and-set'))) return 'VaultConflict';
  if (login && (status === 400 || status === 401 || status === 403)) return 'VaultAuthFailed';
  if (status === 401 || status === 403) return 'VaultPermissionDenied';
  if (status === 503) return 'VaultSealed';
  return 'VaultRequestFailed';
}

/**
 * Maps anything a node-vault call rejected with to a TokensmithError whose message names the
 * operation, the path and the HTTP status (or transport error code) and nothing else.
 * TokensmithErrors pass through unchanged.
 */
export function vaultError(err: unknown, op: VaultOperation): TokensmithError {
  if (err instanceof TokensmithError) return err;
  const what = `${op.operation} (${displayPath(op.path)})`;
  const status = vaultStatusOf(err);
  if (status !== undefined) {
    const errors = vaultErrorsOf(err);
    const code = codeForStatus(status, errors, op.login === true);
    const hint =
      hintFor(errors) ??
      (status === 404
        ? 'not found'
        : status >= 300 && status < 400
          ? 'it answered with a redirect, which tokensmith does not follow (the request carries the Vault token); use the address of the active node'
          : undefined);
    const suffix = hint === undefined ? '' : `: ${hint}`;
    return new TokensmithError(code, `Vault refused to ${what} with HTTP ${status}${suffix}`, { status });
  }
  if (err instanceof VaultTransportError && err.code !== 'ETIMEDOUT') {
    return new TokensmithError('VaultRequestFailed', `could not ${what}: ${err.message}`);
  }
  const code = transportCodeOf(err);
  if (code !== undefined && TLS_CODE.test(code)) {
    return new TokensmithError(
      'VaultTlsFailed',
      `could not ${what}: the TLS handshake with Vault failed (${code}); check the CA bundle and server name`,
    );
  }
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
    return new TokensmithError(
      'VaultUnreachable',
      `could not ${what}: Vault did not answer in time (${code})`,
    );
  }
  if (code !== undefined && UNREACHABLE_CODE.test(code)) {
    return new TokensmithError('VaultUnreachable', `could not ${what}: Vault could not be reached (${code})`);
  }
  const kind = err instanceof Error ? err.constructor.name : typeof err;
  const detail = code === undefined ? kind : `${kind} ${code}`;
  return new TokensmithError('VaultRequestFailed', `could not ${what}: unexpected ${detail}`);
}
