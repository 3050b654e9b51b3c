/**
 * The real controller as a child process (`node src/main.ts run …`, as a user runs it), with its
 * output captured. Every process started here is tracked so a caller can make sure none survives
 * it (stopAllControllers); where `setpriv` exists the kernel also kills the child if its parent
 * dies. Free of the test runner, so benchmarks use it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasSetpriv } from '../env/process.ts';
import { REPO_ROOT } from '../env/settings.ts';

export interface ControllerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
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

/** Where the controller finds its servers. */
export interface ControllerConnection {
  kubeconfigPath: string;
  vaultAddress: string;
  vaultCaCertPath: string;
  vaultToken: string;
}

/**
 * Starts `node src/main.ts run` with the connection's kubeconfig, Vault and token, then `args`.
 * Nothing of the caller's own cluster, Vault or operator settings leaks into the child.
 */
export function spawnController(
  connection: ControllerConnection,
  args: readonly string[],
  extraEnv: Record<string, string> = {},
  options: {
    /** The entry point: default src/main.ts (the TypeScript sources); a compiled main.js works too. */
    entry?: string;
    /** Options for node itself, before the entry (e.g. V8 flags NODE_OPTIONS does not allow). */
    nodeArgs?: readonly string[];
  } = {},
): ControllerProcess {
  const fullArgs = [
    ...(options.nodeArgs ?? []),
    options.entry ?? join(REPO_ROOT, 'src', 'main.ts'),
    'run',
    `--kubeconfig=${connection.kubeconfigPath}`,
    `--vault-address=${connection.vaultAddress}`,
    `--vault-ca-cert=${connection.vaultCaCertPath}`,
    ...args,
  ];
  const inherited = Object.entries(process.env).filter(
    ([key]) => !key.startsWith('TOKENSMITH_') && !DROPPED_ENV.includes(key),
  );
  const childEnv: NodeJS.ProcessEnv = {
    ...Object.fromEntries(inherited),
    VAULT_TOKEN: connection.vaultToken,
    ...extraEnv,
  };

  const [command, argv] = hasSetpriv()
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...fullArgs]]
    : [process.execPath, fullArgs];
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

/** CPU time and memory of a process (a controller's `pid`), from /proc; undefined once it is gone. */
export function processStats(
  pid: number,
): { cpuMs: number; rssBytes: number; peakRssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100/s)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { cpuMs: ticks * 10, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}
