/**
 * The real controller as a child process (`node src/main.ts run …`, as a user runs it) against the
 * test environment, with its output captured. Every process started here is tracked so a test can
 * make sure none survives it (stopAllControllers in afterEach); where `setpriv` exists the kernel
 * also kills the child if the test worker itself dies.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../env/settings.ts';
import { environment } from './environment.ts';
import { issuerOwnerSelector } from './resources.ts';

export interface ControllerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ControllerOptions {
  /** Policies are watched in these namespaces only. */
  namespaces: string[];
  clusterResourceNamespace: string;
  /** TOKENSMITH_FAULT_INJECTION: `<step>[:<mint reason>]`. */
  faultInjection?: string;
}

export interface ControllerProcess {
  readonly pid: number;
  /** Resolves when the process has exited, with its exit code or the signal that ended it. */
  readonly exited: Promise<ControllerExit>;
  /** stdout and stderr so far (JSON log lines). */
  output(): string;
  /** The last lines of output, for failure messages. */
  tail(lines?: number): string;
  /** Waits for the process to exit on its own; fails with its output after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<ControllerExit>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
  stop(graceMs?: number): Promise<ControllerExit>;
}

const running = new Set<ChildProcess>();
const DROPPED_ENV = ['KUBECONFIG', 'VAULT_ADDR', 'VAULT_CACERT', 'VAULT_TOKEN', 'LOG_LEVEL', 'NODE_OPTIONS'];

let setprivAvailable: boolean | undefined;
function hasSetpriv(): boolean {
  setprivAvailable ??=
    process.platform === 'linux' && spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
  return setprivAvailable;
}

/** Starts `node src/main.ts run` with the environment's kubeconfig, Vault and root token. */
export function startController(options: ControllerOptions): ControllerProcess {
  const env = environment();
  const args = [
    join(REPO_ROOT, 'src', 'main.ts'),
    'run',
    `--kubeconfig=${env.kubeconfigPath}`,
    `--vault-address=${env.vaultAddress}`,
    `--vault-ca-cert=${env.vaultCaCertPath}`,
    `--cluster-resource-namespace=${options.clusterResourceNamespace}`,
    // Only this file's ClusterTokenIssuers (see setIssuerOwner in resources.ts).
    `--cluster-issuer-selector=${issuerOwnerSelector(options.clusterResourceNamespace)}`,
    ...options.namespaces.map((ns) => `--namespace=${ns}`),
    '--schedule-jitter=0s',
    '--log-level=debug',
    '--no-leader-elect',
  ];
  // Nothing of a developer's own cluster, Vault or operator settings may leak into the child.
  const inherited = Object.entries(process.env).filter(
    ([key]) => !key.startsWith('TOKENSMITH_') && !DROPPED_ENV.includes(key),
  );
  const childEnv: NodeJS.ProcessEnv = {
    ...Object.fromEntries(inherited),
    VAULT_TOKEN: env.vaultToken,
    ...(options.faultInjection === undefined ? {} : { TOKENSMITH_FAULT_INJECTION: options.faultInjection }),
  };

  const [command, argv] = hasSetpriv()
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...args]]
    : [process.execPath, args];
  const child = spawn(command, argv, { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('could not start the controller process');
  running.add(child);
  const chunks: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (s: string) => chunks.push(s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => chunks.push(s));
  const exited = new Promise<ControllerExit>((resolve) => {
    // 'close': the process has exited and its output is fully read.
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });

  const output = () => chunks.join('');
  const tail = (lines = 30) => output().trimEnd().split('\n').slice(-lines).join('\n');
  return {
    pid: child.pid,
    exited,
    output,
    tail,
    async waitForExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`controller pid ${child.pid} still running after ${timeoutMs} ms:\n${tail()}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Kills every controller process still running (for afterEach/afterAll) and waits for them. */
export async function stopAllControllers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('close', () => {
            resolve();
          });
          child.kill('SIGKILL');
        }),
    ),
  );
}
