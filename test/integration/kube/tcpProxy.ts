/**
 * A TCP proxy in front of the real kube-apiserver, for breaking connections the way networks do:
 * reset every open connection, refuse new ones for a while, or freeze open ones so a watch goes
 * silent while new requests still work. TLS passes through untouched (the serving certificate
 * covers 127.0.0.1), so the server and the client are both real; only the wire misbehaves.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface TcpProxy {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** Connections open now. */
  readonly connections: number;
  /** Connections accepted since the proxy started. */
  readonly accepted: number;
  /** Resets (RST) every open connection. */
  breakAll(): void;
  /** While true, new connections are reset at once. */
  refuse(on: boolean): void;
  /** Stops forwarding on every open connection (both ways) without closing it; new ones work. */
  freezeAll(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/** Starts a proxy to `target` (an https URL) on a free port of 127.0.0.1. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<Pair>();
  const frozen = new Set<Pair>();
  let refusing = false;
  let accepted = 0;

  const server: Server = createServer((client) => {
    accepted++;
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: hostname, port: Number(port) });
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');

  const breakAll = () => {
    for (const { client, upstream } of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return {
    url: `https://127.0.0.1:${address.port}`,
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    breakAll,
    refuse(on) {
      refusing = on;
    },
    freezeAll() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.add({ client, upstream });
      }
      pairs.clear(); // frozen pairs stay frozen until close()
    },
    async close() {
      breakAll();
      for (const { client, upstream } of frozen) {
        client.destroy();
        upstream.destroy();
      }
      frozen.clear();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** A copy of `kubeConfig` whose current cluster is reached through `proxy`. */
export function kubeConfigThrough(kubeConfig: KubeConfig, proxy: TcpProxy): KubeConfig {
  const current = kubeConfig.getCurrentCluster();
  if (!current) throw new Error('the kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: kubeConfig
      .getClusters()
      .map((c) => (c.name === current.name ? { ...c, server: proxy.url } : c)),
    users: kubeConfig.getUsers(),
    contexts: kubeConfig.getContexts(),
    currentContext: kubeConfig.getCurrentContext(),
  });
  return kc;
}
