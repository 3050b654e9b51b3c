/**
 * The test environment: a real etcd, kube-apiserver and Vault, started from the binaries built by
 * binaries.ts, the way controller-runtime's envtest gives Go operators a real control plane. One
 * launcher serves the test suite (global setup), people (`npm run env -- up`) and `npm run dev`.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerBinaries } from './binaries.ts';
import { startControlPlane, type ControlPlane } from './controlPlane.ts';
import { startKubeControllerManager, type RunningKubeControllerManager } from './kubeControllerManager.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { startVault, type RunningVault } from './vault.ts';

const DIR_PREFIX = 'tokensmith-env-';
const OWNER_FILE = 'owner.pid';

/** How to start an environment. */
export interface TestEnvironmentOptions {
  binaries: ServerBinaries;
  /** The environment the servers run in (PATH and the like). */
  env: Record<string, string | undefined>;
  /** CRDs applied once the API server is ready; default: none. */
  crdDir?: string;
  /** Parent of the environment's temporary directory; default os.tmpdir(). */
  tmpDir?: string;
  log?: (line: string) => void;
}

/** Connection details a client of the environment needs; all plain strings, safe to serialize. */
export interface EnvironmentConnection {
  kubeconfigPath: string;
  kubeApiserverUrl: string;
  kubeCaPem: string;
  vaultAddress: string;
  vaultToken: string;
  vaultCaCertPath: string;
  kubectlPath: string;
  helmPath: string;
  /** The Vault binary, for tests that start a Vault of their own (env/persistentVault.ts). */
  vaultPath: string;
  /** The etcd and kube-apiserver binaries, for tests that start a control plane of their own. */
  etcdPath: string;
  kubeApiserverPath: string;
  /** The directory of the environment, which also holds every server's log. */
  dir: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the directories of environments whose launcher died without cleaning up. */
function sweepAbandoned(parent: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(parent, name);
    try {
      const owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
      if (owner && isAlive(owner)) continue;
    } catch {
      continue; // no owner file: a launcher is between mkdtemp and writing it; leave it alone
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A running etcd, kube-apiserver, kube-controller-manager and Vault. stop() tears all down. */
export class TestEnvironment {
  readonly connection: EnvironmentConnection;
  private readonly controlPlane: ControlPlane;
  private readonly controllerManager: RunningKubeControllerManager;
  private readonly vault: RunningVault;
  private stopping: Promise<void> | undefined;

  private constructor(parts: {
    connection: EnvironmentConnection;
    controlPlane: ControlPlane;
    controllerManager: RunningKubeControllerManager;
    vault: RunningVault;
  }) {
    this.connection = parts.connection;
    this.controlPlane = parts.controlPlane;
    this.controllerManager = parts.controllerManager;
    this.vault = parts.vault;
  }

  /** Starts the servers, writes the admin kubeconfig and applies the CRDs. */
  static async start(options: TestEnvironmentOptions): Promise<TestEnvironment> {
    const log = options.log ?? (() => undefined);
    const parent = options.tmpDir ?? tmpdir();
    mkdirSync(parent, { recursive: true });
    sweepAbandoned(parent);
    const dir = mkdtempSync(join(parent, DIR_PREFIX));
    writeFileSync(join(dir, OWNER_FILE), String(process.pid));
    const removeDir = () => {
      rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', removeDir);

    const started: { stop(): Promise<void> }[] = [];
    try {
      const t0 = Date.now();
      const [controlPlane, vault] = await Promise.all([
        startControlPlane({
          binaries: options.binaries,
          dir,
          env: options.env,
          crdDir: options.crdDir,
        }).then((s) => {
          started.push(s);
          return s;
        }),
        startVault({ binary: options.binaries.vault, dir, env: options.env }).then((s) => {
          started.push(s.process);
          return s;
        }),
      ]);
      const { kube, kubeconfigPath } = controlPlane;
      if (controlPlane.crds.length > 0)
        log(`applied ${controlPlane.crds.length} CRDs from ${options.crdDir ?? ''}`);
      // After the CRDs: its garbage collector knows their kinds from the start (it rediscovers
      // resources only every 30 s).
      const controllerManager = await startKubeControllerManager({
        binary: options.binaries.kubeControllerManager,
        kubeconfigPath,
        dir,
        env: options.env,
      });
      started.push(controllerManager.process);
      log(`test environment up in ${((Date.now() - t0) / 1000).toFixed(1)}s (${dir})`);
      return new TestEnvironment({
        connection: {
          kubeconfigPath,
          kubeApiserverUrl: kube.url,
          kubeCaPem: kube.servingCaPem,
          vaultAddress: vault.address,
          vaultToken: vault.token,
          vaultCaCertPath: vault.caCertPath,
          kubectlPath: options.binaries.kubectl,
          helmPath: options.binaries.helm,
          vaultPath: options.binaries.vault,
          etcdPath: options.binaries.etcd,
          kubeApiserverPath: options.binaries.kubeApiserver,
          dir,
        },
        controlPlane,
        controllerManager,
        vault,
      });
    } catch (err) {
      await Promise.all(started.map((s) => s.stop()));
      removeDir();
      throw err;
    }
  }

  /** The variables a shell or a test needs to use the environment. */
  exports(): Record<string, string> {
    return {
      KUBECONFIG: this.connection.kubeconfigPath,
      VAULT_ADDR: this.connection.vaultAddress,
      VAULT_TOKEN: this.connection.vaultToken,
      VAULT_CACERT: this.connection.vaultCaCertPath,
    };
  }

  /**
   * Writes a kubeconfig for a user authenticated by a client certificate (no RBAC bindings
   * unless the caller creates them), for tests of least privilege.
   */
  async kubeconfigForUser(user: string, groups: string[] = []): Promise<string> {
    const pair = await this.controlPlane.kube.clientCa.issue({
      commonName: user,
      organizations: groups,
      usage: 'client',
    });
    const safe = user.replace(/[^A-Za-z0-9_.-]/g, '_');
    return writeKubeconfig(join(this.connection.dir, `kubeconfig-${safe}`), {
      server: this.controlPlane.kube.url,
      caPem: this.controlPlane.kube.servingCaPem,
      user,
      certPem: pair.certPem,
      keyPem: pair.keyPem,
    });
  }

  /** Stops every server and removes the environment's directory. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.controllerManager.process.stop();
      await Promise.all([this.vault.process.stop(), this.controlPlane.stop()]);
      rmSync(this.connection.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}
