/**
 * The test environment's container mode (`TOKENSMITH_TEST_ENV=containers`): etcd,
 * kube-apiserver, kube-controller-manager and Vault run in containers started through
 * testcontainers, with the very arguments the process mode gives them. Each container shares the
 * host's network (the servers listen on 127.0.0.1 as before) and sees the environment's directory
 * at the same path (data, certificates, kubeconfigs), so nothing else in the environment changes.
 *
 * Images: the upstream ones by default, for machines with a registry —
 *   etcd                      quay.io/coreos/etcd:v3.6.16
 *   kube-apiserver            registry.k8s.io/kube-apiserver:v1.36.3
 *   kube-controller-manager   registry.k8s.io/kube-controller-manager:v1.36.3
 *   vault                     docker.io/hashicorp/vault:1.21.0
 * — or, with `TOKENSMITH_TEST_IMAGES=local`, images built here from the Go-built binaries of the
 * cache on the Debian base of scripts/podman.ts (`localhost/tokensmith-test-<server>:<cache key>`),
 * which is how it runs on a machine that can pull nothing.
 *
 * testcontainers talks to `DOCKER_HOST`; unset, the podman API is started on a socket of its own
 * (`podman system service`) and stopped with the environment. Ryuk (the reaper) cannot be pulled
 * here, so the environment removes its containers itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { StartedTestContainer } from 'testcontainers';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { configurePodman, DEBIAN_BASE, ensureDebianBase, hasImage, run } from '../../scripts/podman.ts';
import type { ServerBinaries } from './binaries.ts';
import { logTail, type ContainerLauncher, type ServerProcess, type ServerProcessOptions } from './process.ts';

/** Where each server's binary is in its upstream image. */
const UPSTREAM: Record<string, { image: string; binary: string }> = {
  etcd: { image: 'quay.io/coreos/etcd:v3.6.16', binary: '/usr/local/bin/etcd' },
  'kube-apiserver': {
    image: 'registry.k8s.io/kube-apiserver:v1.36.3',
    binary: '/usr/local/bin/kube-apiserver',
  },
  'kube-controller-manager': {
    image: 'registry.k8s.io/kube-controller-manager:v1.36.3',
    binary: '/usr/local/bin/kube-controller-manager',
  },
  vault: { image: 'docker.io/hashicorp/vault:1.21.0', binary: '/bin/vault' },
};

export function containerMode(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TOKENSMITH_TEST_ENV === 'containers';
}

/** The images to run, built here from `binaries` when TOKENSMITH_TEST_IMAGES=local. */
function images(
  binaries: ServerBinaries,
  log: (line: string) => void,
): Record<string, { image: string; binary: string }> {
  if (process.env.TOKENSMITH_TEST_IMAGES !== 'local') return UPSTREAM;
  configurePodman(log);
  ensureDebianBase(log);
  const paths: Record<string, string> = {
    etcd: binaries.etcd,
    'kube-apiserver': binaries.kubeApiserver,
    'kube-controller-manager': binaries.kubeControllerManager,
    vault: binaries.vault,
  };
  const local: Record<string, { image: string; binary: string }> = {};
  for (const [name, path] of Object.entries(paths)) {
    // The cache directory's name carries the build's key: a rebuilt binary makes a new image.
    const image = `localhost/tokensmith-test-${name}:${basename(dirname(path)).split('-').at(-1) ?? 'latest'}`;
    const binary = `/usr/local/bin/${name}`;
    if (!hasImage(image)) {
      log(`building ${image} from ${path}`);
      const context = mkdtempSync(join(tmpdir(), `tokensmith-test-${name}-`));
      copyFileSync(path, join(context, name));
      writeFileSync(join(context, 'Containerfile'), `FROM ${DEBIAN_BASE}\nCOPY ${name} ${binary}\n`);
      run('podman', ['build', '--quiet', '-t', image, context]);
    }
    local[name] = { image, binary };
  }
  return local;
}

/** The podman API on a socket of its own, when DOCKER_HOST names none. */
function ensureDockerHost(log: (line: string) => void): ChildProcess | undefined {
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  if (process.env.DOCKER_HOST) return undefined;
  const socket = join(mkdtempSync(join(tmpdir(), 'tokensmith-podman-')), 'podman.sock');
  const service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(socket); i++) spawnSync('sleep', ['0.05']);
  process.env.DOCKER_HOST = `unix://${socket}`;
  log(`podman API at ${socket} (for testcontainers)`);
  return service;
}

/** A server in a container, with the ServerProcess interface of a local one. */
class ContainerServer implements ServerProcess {
  readonly name: string;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private readonly started: Promise<StartedTestContainer | undefined>;

  constructor(options: ServerProcessOptions, image: { image: string; binary: string }) {
    this.name = options.name;
    this.logFile = options.logFile;
    const shared = dirname(options.logFile);
    // The container has a PATH of its own; nothing else of the server's environment is dropped.
    const env = Object.fromEntries(
      Object.entries(options.env).filter((e): e is [string, string] => e[1] !== undefined && e[0] !== 'PATH'),
    );
    let done: (code: number | null) => void = () => undefined;
    this.exited = new Promise((resolve) => {
      done = (code) => {
        this.exitCode = code;
        resolve(code);
      };
    });
    this.started = (async () => {
      try {
        const { GenericContainer } = await import('testcontainers');
        const container = await new GenericContainer(image.image)
          .withNetworkMode('host')
          .withUser('0:0')
          .withEntrypoint([image.binary])
          .withCommand(options.args)
          .withEnvironment(env)
          .withBindMounts([{ source: shared, target: shared, mode: 'rw' }])
          .withWorkingDir(options.cwd ?? shared)
          .withAutoRemove(false)
          .withLogConsumer((stream) => {
            stream.on('data', (chunk: Buffer | string) => {
              appendFileSync(options.logFile, chunk);
            });
          })
          .start();
        // `podman wait` resolves with the exit code whenever the server ends.
        const waiter = spawn('podman', ['wait', container.getId()], { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        waiter.stdout.on('data', (c: Buffer) => (out += c.toString()));
        waiter.once('exit', () => {
          const code = Number.parseInt(out.trim(), 10);
          done(Number.isNaN(code) ? null : code);
        });
        return container;
      } catch (err) {
        appendFileSync(options.logFile, `\ncontainer start failed: ${(err as Error).message}\n`);
        done(null);
        return undefined;
      }
    })();
  }

  get hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  tail(lines = 25): string {
    return logTail(this.logFile, lines);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; the container is removed. */
  async stop(graceMs = 5_000): Promise<void> {
    const container = await this.started;
    if (!container) return;
    await container.stop({ timeout: graceMs, remove: true }).catch(() => undefined);
    await this.exited;
  }
}

/**
 * Sets the environment up to run its servers in containers; returns what to stop afterwards
 * (the podman API it started, if any).
 */
export function prepareContainers(
  binaries: ServerBinaries,
  log: (line: string) => void,
): { launchers: Map<string, ContainerLauncher>; stop(): void } {
  const service = ensureDockerHost(log);
  const chosen = images(binaries, log);
  const launchers = new Map<string, ContainerLauncher>();
  for (const [name, image] of Object.entries(chosen)) {
    launchers.set(name, (options) => new ContainerServer(options, image));
  }
  return {
    launchers,
    stop: () => {
      service?.kill('SIGTERM');
    },
  };
}
