/**
 * The metrics and probe endpoint: plain HTTP on its own port (`--metrics-port`, default 9402 as
 * cert-manager's): `GET /metrics` in the Prometheus text format, `/readyz` (200 once the caches are
 * synced) and `/healthz` (200 unless the event loop stalled for more than 5 s lately or a watch
 * has been failing for more than a minute: a liveness probe restarts such a process). It reads no
 * request body.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** A stall of the event loop longer than this makes /healthz fail (for a minute after it). */
const STALL_MS = 5_000;

export async function startMetricsServer(options: {
  port: number;
  registry: Registry;
  log: Logger;
  /** Whether the caches are synced. */
  ready: () => boolean;
  /** Why the process is unhealthy besides the event loop (e.g. failing watches); empty: healthy. */
  problems: () => string[];
}): Promise<MetricsServer> {
  // The event loop's health: a 1 s tick that comes much later than due is a stall.
  let lastTick = performance.now();
  let stalledAt = -Infinity;
  let stalledForMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const late = now - lastTick - 1_000;
    if (late > STALL_MS) {
      stalledAt = now;
      stalledForMs = late;
    }
    lastTick = now;
  }, 1_000);
  ticker.unref();
  const text = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(`${body}\n`);
  };
  const server: Server = createServer((req, res) => {
    req.resume();
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      text(res, 405, 'method not allowed');
      return;
    }
    if (path === '/readyz') {
      if (options.ready()) text(res, 200, 'ok');
      else text(res, 503, 'caches not synced yet');
      return;
    }
    if (path === '/healthz') {
      const problems = options.problems();
      if (performance.now() - stalledAt < 60_000) {
        problems.push(`the event loop stalled for ${Math.round(stalledForMs / 1000)}s`);
      }
      if (problems.length === 0) text(res, 200, 'ok');
      else text(res, 503, problems.join('; '));
      return;
    }
    if (path !== '/metrics') {
      text(res, 404, 'not found');
      return;
    }
    options.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': options.registry.contentType }).end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ port }, 'metrics server listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(ticker);
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
