import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { get } from './http.ts';
import { freePort } from './ports.ts';
import { RestartableServer, waitUntilReady, type ServerProcess } from './process.ts';

/** A running etcd member on loopback, with its data in `dir`. */
export interface RunningEtcd {
  clientUrl: string;
  process: ServerProcess;
  /** Stop, kill, pause and start it again on the same ports with the same data. */
  server: RestartableServer;
}

/**
 * Starts a single-member etcd the way envtest does: without fsync, since the data is thrown away
 * (a graceful stop still keeps it; a SIGKILL may lose the last writes).
 */
export async function startEtcd(options: {
  binary: string;
  dir: string;
  env: Record<string, string | undefined>;
  /** The process's name in messages (and which container launcher, if any, takes it). */
  name?: string;
}): Promise<RunningEtcd> {
  const dataDir = join(options.dir, 'etcd-data');
  mkdirSync(dataDir, { recursive: true });
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const server = await RestartableServer.start(
    {
      name: options.name ?? 'etcd',
      command: options.binary,
      args: [
        '--name=tokensmith-test',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=tokensmith-test=${peerUrl}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      env: options.env,
      logFile: join(options.dir, 'etcd.log'),
    },
    (started) =>
      waitUntilReady(started, `GET ${clientUrl}/health`, async () => {
        const res = await get(`${clientUrl}/health`);
        return res.status === 200 && res.body.includes('"true"');
      }),
  );
  return {
    clientUrl,
    get process() {
      return server.process;
    },
    server,
  };
}
