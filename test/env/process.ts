/**
 * Child processes for the test servers. Each server runs under `setpriv --pdeathsig KILL` where
 * the machine has it (Linux util-linux), so the kernel kills it if the launcher itself dies, even
 * by SIGKILL; an `exit` hook kills whatever is still running when the launcher exits normally.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

let setprivAvailable: boolean | undefined;
/** Whether `setpriv --pdeathsig` can tie a child's life to its parent's here. */
export function hasSetpriv(): boolean {
  setprivAvailable ??=
    process.platform === 'linux' && spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
  return setprivAvailable;
}

/** How to start one server. */
export interface ServerProcessOptions {
  /** A short name used in messages, e.g. `etcd`. */
  name: string;
  command: string;
  args: string[];
  /** The complete environment of the child (nothing is inherited implicitly). */
  env: Record<string, string | undefined>;
  /** stdout and stderr go here; its tail is quoted when the server fails. */
  logFile: string;
  cwd?: string;
}

/** A running server: a local process, or a container (TOKENSMITH_TEST_ENV=containers, containers.ts). */
export interface ServerProcess {
  readonly name: string;
  readonly logFile: string;
  /** Resolves with the exit code (null: killed) once it has exited. */
  readonly exited: Promise<number | null>;
  readonly hasExited: boolean;
  tail(lines?: number): string;
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal (SIGSTOP/SIGCONT to pause and resume it); local processes only. */
  signal?(signal: NodeJS.Signals): void;
}

/** How a server runs in a container instead (see containers.ts). */
export type ContainerLauncher = (options: ServerProcessOptions) => ServerProcess;
const containerLaunchers = new Map<string, ContainerLauncher>();

/** From now on, the servers named here run through their launcher (a container). */
export function runInContainers(launchers: ReadonlyMap<string, ContainerLauncher>): void {
  for (const [name, launch] of launchers) containerLaunchers.set(name, launch);
}

export const ServerProcess = {
  /** Starts a server: as a local process, or in its container when runInContainers named it. */
  start(options: ServerProcessOptions): ServerProcess {
    const container = containerLaunchers.get(options.name);
    return container ? container(options) : LocalServerProcess.start(options);
  },
};

/** The last `lines` lines of a log file, for error messages. */
export function logTail(logFile: string, lines = 25): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** A server running as a local child process. */
class LocalServerProcess implements ServerProcess {
  readonly name: string;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private exitCode: number | null | undefined;

  private constructor(options: ServerProcessOptions) {
    installExitHook();
    this.name = options.name;
    this.logFile = options.logFile;
    const out = openSync(options.logFile, 'a');
    const [command, args] = hasSetpriv()
      ? ['setpriv', ['--pdeathsig', 'KILL', '--', options.command, ...options.args]]
      : [options.command, options.args];
    this.child = spawn(command, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    running.add(this.child);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        running.delete(this.child);
        this.exitCode = code;
        resolve(code);
      };
      this.child.once('exit', (code, signal) => {
        done(code ?? (signal ? null : 0));
      });
      this.child.once('error', (err) => {
        appendFileSync(options.logFile, `\nspawn failed: ${err.message}\n`);
        done(null);
      });
    });
  }

  /** Starts a server process. */
  static start(options: ServerProcessOptions): LocalServerProcess {
    return new LocalServerProcess(options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  /** The last lines the server printed, for error messages. */
  tail(lines = 25): string {
    return logTail(this.logFile, lines);
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.hasExited) this.child.kill(signal);
  }

  /** Stops the server: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.hasExited) return;
    this.child.kill('SIGTERM');
    this.child.kill('SIGCONT'); // a paused server handles nothing until it runs again
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Polls `probe` until it resolves true, failing early with the server's output if the process
 * exits, and after `timeoutMs` otherwise.
 */
export async function waitUntilReady(
  server: ServerProcess,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.hasExited) {
      throw new Error(
        `${server.name} exited before ${what}. Its last output (${server.logFile}):\n${server.tail()}`,
      );
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${server.name} did not become ready (${what}) within ${timeoutMs / 1000}s. ` +
          `Its last output (${server.logFile}):\n${server.tail()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A server that can be stopped, killed, paused and started again with the same command line, so on
 * the same ports and with the same data (fault tests). `ready` waits for a started process to serve.
 */
export class RestartableServer {
  private current: ServerProcess;
  private readonly options: ServerProcessOptions;
  private readonly ready: (server: ServerProcess) => Promise<void>;

  private constructor(options: ServerProcessOptions, ready: (server: ServerProcess) => Promise<void>) {
    this.options = options;
    this.ready = ready;
    this.current = ServerProcess.start(options);
  }

  /** Starts the server and waits until it is ready. */
  static async start(
    options: ServerProcessOptions,
    ready: (server: ServerProcess) => Promise<void>,
  ): Promise<RestartableServer> {
    const server = new RestartableServer(options, ready);
    try {
      await ready(server.current);
    } catch (err) {
      await server.current.stop();
      throw err;
    }
    return server;
  }

  /** The process running now (or the last one, once stopped). */
  get process(): ServerProcess {
    return this.current;
  }

  get running(): boolean {
    return !this.current.hasExited;
  }

  /** Stops it: SIGTERM (graceful), or SIGKILL when `kill`. Its data stays. */
  async stop(options: { kill?: boolean } = {}): Promise<void> {
    if (options.kill) this.signal('SIGKILL');
    await this.current.stop();
  }

  /** Freezes the process (SIGSTOP): connections stay open and nothing is answered until resume(). */
  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  /** Starts it again with the same command line and waits until it is ready. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.options.name} is running: stop it first`);
    this.current = ServerProcess.start(this.options);
    await this.ready(this.current);
  }

  private signal(signal: NodeJS.Signals): void {
    if (!this.current.signal)
      throw new Error(`${this.options.name} runs in a container: it cannot be signalled`);
    this.current.signal(signal);
  }
}
