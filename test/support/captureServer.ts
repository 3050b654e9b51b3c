/**
 * A small HTTPS listener that records every request that reaches it (method, path, Vault token and
 * the start of the body) and answers 403: the "attacker's server" of the confused-deputy tests.
 * Whatever tokensmith can be made to send somewhere shows up in `captured`.
 */
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createCertificateAuthority } from '../env/pki.ts';

export interface CaptureServer {
  url: string;
  /** The CA that signed the listener's certificate (PEM), for a caBundle. */
  caPem: string;
  /** TLS options with the same certificate, for other listeners of the test. */
  tls: ServerOptions;
  /** One line per request received. */
  captured: string[];
  /** Listens on 127.0.0.1 with the capture's certificate; closed by close(). */
  listen(server: Server): Promise<string>;
  close(): Promise<void>;
}

export async function startCaptureServer(name: string): Promise<CaptureServer> {
  const ca = await createCertificateAuthority(`${name}-ca`);
  const cert = await ca.issue({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
  const tls = { cert: cert.certPem, key: cert.keyPem };
  const captured: string[] = [];
  const servers: Server[] = [];
  const open = new Set<Duplex>();
  const listen = async (server: Server): Promise<string> => {
    servers.push(server);
    server.on('connection', (socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const url = await listen(
    createServer(tls, (req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        captured.push(
          `${req.method ?? ''} ${req.url ?? ''} token=${String(req.headers['x-vault-token'])} body=${body.slice(0, 120)}`,
        );
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":["permission denied"]}');
      });
    }),
  );
  return {
    url,
    caPem: ca.certPem,
    tls,
    captured,
    listen,
    async close() {
      for (const socket of open) socket.destroy();
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}
