/**
 * A control plane of a test file's own (etcd + kube-apiserver, CRDs applied), for fault tests that
 * stop or restart the API server: the shared one serves every other test file at the same time.
 * The test helpers of the file are pointed at it (useKubeconfig) until stop().
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../env/controlPlane.ts';
import { REPO_ROOT } from '../env/settings.ts';
import { environment, useKubeconfig } from './environment.ts';

export async function startPrivateControlPlane(): Promise<ControlPlane> {
  const env = environment();
  const plane = await startControlPlane({
    binaries: { etcd: env.etcdPath, kubeApiserver: env.kubeApiserverPath },
    dir: join(env.dir, `private-${randomBytes(4).toString('hex')}`),
    env: { PATH: process.env.PATH },
    crdDir: join(REPO_ROOT, 'crds'),
    names: { etcd: 'etcd-private', kubeApiserver: 'kube-apiserver-private' },
  });
  useKubeconfig(plane.kubeconfigPath);
  return {
    ...plane,
    async stop() {
      useKubeconfig(undefined);
      await plane.stop();
    },
  };
}
