import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { get } from './http.ts';
import { freePort } from './ports.ts';
import { ServerProcess, waitUntilReady } from './process.ts';

/** A running etcd member on loopback, with its data in `dir`. */
export interface RunningEtcd {
  clientUrl: string;
  process: ServerProcess;
}

/** Starts a single-member etcd the way envtest does (no fsync: data is thrown away). */
export async function startEtcd(options: {
  binary: string;
  dir: string;
  env: Record<string, string | undefined>;
}): Promise<RunningEtcd> {
  const dataDir = join(options.dir, 'etcd-data');
  mkdirSync(dataDir, { recursive: true });
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const server = ServerProcess.start({
    name: 'etcd',
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
  });
  await waitUntilReady(server, `GET ${clientUrl}/health`, async () => {
    const res = await get(`${clientUrl}/health`);
    return res.status === 200 && res.body.includes('"true"');
  });
  return { clientUrl, process: server };
}
