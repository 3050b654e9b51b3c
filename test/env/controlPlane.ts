/**
 * etcd and kube-apiserver, with an admin kubeconfig and the CRDs applied: the part of the test
 * environment a Kubernetes client needs. The shared environment starts one; a fault test that must
 * restart the API server starts a private one (the shared one serves every other test file).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { installCrds } from './crds.ts';
import { startEtcd, type RunningEtcd } from './etcd.ts';
import { startKubeApiserver, type RunningKubeApiserver } from './kubeApiserver.ts';
import { writeKubeconfig } from './kubeconfig.ts';

export interface ControlPlane {
  etcd: RunningEtcd;
  kube: RunningKubeApiserver;
  /** An administrator's kubeconfig (system:masters). */
  kubeconfigPath: string;
  /** The CRDs applied (names). */
  crds: string[];
  /** Stops kube-apiserver, then etcd. */
  stop(): Promise<void>;
}

export async function startControlPlane(options: {
  binaries: { etcd: string; kubeApiserver: string };
  /** Holds the servers' data, certificates and logs. */
  dir: string;
  env: Record<string, string | undefined>;
  crdDir?: string;
  /**
   * Process names (default etcd, kube-apiserver). A container launcher takes servers by name, so a
   * private control plane names its own to stay local processes that can be paused.
   */
  names?: { etcd: string; kubeApiserver: string };
}): Promise<ControlPlane> {
  mkdirSync(options.dir, { recursive: true });
  const etcd = await startEtcd({
    binary: options.binaries.etcd,
    dir: options.dir,
    env: options.env,
    name: options.names?.etcd,
  });
  try {
    const kube = await startKubeApiserver({
      binary: options.binaries.kubeApiserver,
      etcdUrl: etcd.clientUrl,
      dir: options.dir,
      env: options.env,
      name: options.names?.kubeApiserver,
    });
    const stop = async () => {
      await kube.server.stop();
      await etcd.server.stop();
    };
    try {
      const kubeconfigPath = writeKubeconfig(join(options.dir, 'kubeconfig'), {
        server: kube.url,
        caPem: kube.servingCaPem,
        user: 'tokensmith-test-admin',
        certPem: kube.admin.certPem,
        keyPem: kube.admin.keyPem,
      });
      let crds: string[] = [];
      if (options.crdDir && existsSync(options.crdDir)) {
        const kubeConfig = new KubeConfig();
        kubeConfig.loadFromFile(kubeconfigPath);
        crds = await installCrds(kubeConfig, options.crdDir);
      }
      return { etcd, kube, kubeconfigPath, crds, stop };
    } catch (err) {
      await stop();
      throw err;
    }
  } catch (err) {
    await etcd.server.stop();
    throw err;
  }
}
