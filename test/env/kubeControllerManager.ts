/**
 * kube-controller-manager beside the test kube-apiserver, so that what Kubernetes does after
 * tokensmith acts is real in tests: owner-reference garbage collection (a deleted issuer's JWKS
 * ConfigMap, a deleted policy's Secret) and workload rollouts (a restart annotation makes a new
 * ReplicaSet; pods stay Pending, as there is no kubelet). Only the controllers whose effects
 * tokensmith's objects meet are enabled; none that needs nodes, a cloud or service-account keys.
 */
import { join } from 'node:path';
import { get } from './http.ts';
import { createCertificateAuthority } from './pki.ts';
import { freePort } from './ports.ts';
import { ServerProcess, waitUntilReady } from './process.ts';
import { writeFileSync } from 'node:fs';

/** The controllers run; see `kube-controller-manager --help` for the names. */
export const CONTROLLERS = [
  'garbage-collector-controller',
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
];

export interface RunningKubeControllerManager {
  process: ServerProcess;
}

export async function startKubeControllerManager(options: {
  binary: string;
  /** An administrator's kubeconfig (the controllers act with its rights). */
  kubeconfigPath: string;
  dir: string;
  env: Record<string, string | undefined>;
}): Promise<RunningKubeControllerManager> {
  const port = await freePort();
  const ca = await createCertificateAuthority('tokensmith-test-kcm-ca');
  const serving = await ca.issue({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
  const file = (name: string, content: string) => {
    const path = join(options.dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const server = ServerProcess.start({
    name: 'kube-controller-manager',
    command: options.binary,
    args: [
      `--kubeconfig=${options.kubeconfigPath}`,
      `--authentication-kubeconfig=${options.kubeconfigPath}`,
      `--authorization-kubeconfig=${options.kubeconfigPath}`,
      `--controllers=${CONTROLLERS.join(',')}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--tls-cert-file=${file('kcm-serving.crt', serving.certPem)}`,
      `--tls-private-key-file=${file('kcm-serving.key', serving.keyPem)}`,
      '--profiling=false',
    ],
    env: options.env,
    logFile: join(options.dir, 'kube-controller-manager.log'),
  });
  const url = `https://127.0.0.1:${port}/healthz`;
  await waitUntilReady(
    server,
    `GET ${url}`,
    async () => (await get(url, { ca: ca.certPem })).status === 200,
    60_000,
  );
  return { process: server };
}
