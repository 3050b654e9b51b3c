/**
 * The HTTP transport under node-vault, passed in through its `request-promise` option. node-vault's
 * own (axios) follows redirects — re-sending the X-Vault-Token header to wherever a server points —
 * buffers responses of any size, and times out only an idle socket, so a server that trickles a
 * byte at a time holds a request forever. This one sends each request once over the caller's TLS
 * agent and:
 *
 * - never follows a redirect: a 3xx is returned as the answer (node-vault rejects it);
 * - ends every request at a total deadline, however the server paces its bytes;
 * - stops reading, and fails, once a response passes a size cap.
 *
 * Failures are VaultTransportErrors with a code and a message written here (never a body).
 */
import { request, type Agent } from 'node:https';
import { request as plainRequest, type Agent as PlainAgent } from 'node:http';

/** Bounds on one request. */
export interface TransportLimits {
  /** The whole exchange, connect to last byte, in milliseconds. */
  deadlineMs: number;
  /** The largest response body accepted, in bytes. */
  maxResponseBytes: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A transport failure; `code` is matched by vaultError, `message` is safe to show. */
export class VaultTransportError extends Error {
  readonly code: 'ETIMEDOUT' | 'ERR_RESPONSE_TOO_LARGE' | 'ERR_RESPONSE_NOT_JSON';

  constructor(code: VaultTransportError['code'], message: string) {
    super(message);
    this.name = 'VaultTransportError';
    this.code = code;
  }
}

/** What node-vault hands its transport, and what it expects back. */
interface TransportRequest {
  method: string;
  uri: string;
  headers?: Record<string, string>;
  json?: unknown;
}
interface TransportResponse {
  statusCode: number;
  body: unknown;
  request: { path: string };
}

/** node-vault's `request-promise` option: `defaults()` returns the request function. */
export interface RequestPromiseLike {
  defaults(defaults: object): (options: TransportRequest) => Promise<TransportResponse>;
}

/** A transport over `agent` (https, or http for an http:// address) with `limits`. */
export function vaultTransport(agent: Agent | PlainAgent, limits: TransportLimits): RequestPromiseLike {
  const send = (options: TransportRequest): Promise<TransportResponse> =>
    new Promise((resolve, reject) => {
      const url = new URL(options.uri);
      const body = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
      const headers: Record<string, string> = {
        ...options.headers,
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
      };
      const make = url.protocol === 'http:' ? plainRequest : request;
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(err);
      };
      const req = make(url, { method: options.method, headers, agent: agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limits.maxResponseBytes) {
            fail(
              new VaultTransportError(
                'ERR_RESPONSE_TOO_LARGE',
                `Vault's response was larger than ${limits.maxResponseBytes} bytes`,
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          if (settled) return;
          const statusCode = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          if (text.trim() !== '') {
            try {
              parsed = JSON.parse(text) as unknown;
            } catch {
              // Vault answers JSON; anything else is only acceptable on a status that is an error anyway.
              if (statusCode >= 200 && statusCode < 300) {
                fail(
                  new VaultTransportError(
                    'ERR_RESPONSE_NOT_JSON',
                    'Vault answered with something other than JSON',
                  ),
                );
                return;
              }
            }
          }
          settled = true;
          clearTimeout(timer);
          resolve({ statusCode, body: parsed, request: { path: url.pathname } });
        });
      });
      const timer = setTimeout(() => {
        fail(
          new VaultTransportError(
            'ETIMEDOUT',
            `Vault did not answer completely within ${limits.deadlineMs} ms`,
          ),
        );
      }, limits.deadlineMs);
      req.on('error', fail);
      req.end(body);
    });
  return { defaults: () => send };
}
