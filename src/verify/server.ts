/**
 * The verification server: HTTPS on its own port, on every replica (leader or not), serving what
 * the APIs that receive tokens need from the controller's caches (routes.ts). Hardened as an edge
 * service: small request bodies, header and request timeouts, a cap on connections' idle time,
 * `/readyz` that waits for the caches, `/healthz`, and a graceful close that lets requests in
 * flight finish before it cuts what is left.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import { watchTlsFiles } from './tlsFiles.ts';

/** What a route answers. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** One request as routes see it: method, host (no port), path, headers and the (bounded) body. */
export interface VerifyRequest {
  method: string;
  host: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Routes = (request: VerifyRequest) => Promise<Answer | undefined>;

export const MAX_BODY_BYTES = 16 * 1024;

export interface VerifyServer {
  readonly port: number;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then closes the rest. */
  close(graceMs?: number): Promise<void>;
}

/** A JSON answer (the one shape every route of the server uses). */
export const json = (status: number, value: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(value),
});

export async function startVerifyServer(options: {
  port: number;
  host?: string;
  certFile: string;
  keyFile: string;
  log: Logger;
  /** True once the caches are synced. */
  ready: () => boolean;
  routes: Routes;
}): Promise<VerifyServer> {
  const { log } = options;
  const tls = watchTlsFiles({
    certFile: options.certFile,
    keyFile: options.keyFile,
    log,
    onChange: (next) => {
      server.setSecureContext(next);
    },
  });
  const server: Server = createServer(
    {
      ...tls.current,
      requestTimeout: 10_000,
      headersTimeout: 5_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => {
      void handle(req, res);
    },
  );
  server.maxHeadersCount = 64;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let answer: Answer;
    try {
      const body = await readBody(req);
      if (body === undefined) {
        answer = json(413, {
          error: 'invalid_request',
          error_description: `the body is larger than ${MAX_BODY_BYTES} bytes`,
        });
      } else {
        const url = new URL(req.url ?? '/', 'https://localhost');
        const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
        if (url.pathname === '/healthz') answer = { status: 200, body: 'ok' };
        else if (url.pathname === '/readyz')
          answer = options.ready() ? { status: 200, body: 'ok' } : { status: 503, body: 'caches not synced' };
        else {
          answer =
            (await options.routes({
              method: req.method ?? 'GET',
              host,
              path: url.pathname,
              headers: req.headers,
              body,
            })) ?? json(404, { error: 'not_found' });
        }
      }
    } catch (err) {
      log.warn({ err: { message: (err as Error).constructor.name } }, 'verification server: request failed');
      answer = json(500, { error: 'server_error' });
    }
    if (res.headersSent || res.destroyed) return;
    res.writeHead(answer.status, { 'x-content-type-options': 'nosniff', ...answer.headers });
    res.end(answer.body);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port }, 'verification server listening');
  return {
    port,
    async close(graceMs = 5_000) {
      tls.close();
      const closed = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        server.closeAllConnections();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** The body, or undefined when it is larger than MAX_BODY_BYTES (reading stops there). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        req.pause();
        resolve(undefined);
        return;
      }
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}
