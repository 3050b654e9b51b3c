/**
 * Builds the test servers (etcd, kube-apiserver, kube-controller-manager, kubectl, Vault) and helm from the
 * Go modules pinned in test/env/{etcd,kube,kube-controller-manager,helm,vault}, and caches the binaries under the user's cache directory keyed by
 * a hash of the module's go.mod, go.sum and the build recipe: a warm start finds
 * them at once, a changed pin rebuilds. A cold build takes many minutes, so progress is printed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MODULES_ROOT = import.meta.dirname;
const MINIMUM_GO = [1, 26] as const;

interface Recipe {
  /** The Go module directory under test/env. */
  module: string;
  /** What is built, for messages. */
  describe: string;
  packages: string[];
  outputs: string[];
  tags: string[];
  ldflags: string;
}

const KUBE_VERSION = 'v1.36.3';
const kubeVersionFlags = ['gitVersion=' + KUBE_VERSION, 'gitMajor=1', 'gitMinor=36']
  .map((kv) => `-X k8s.io/component-base/version.${kv}`)
  .join(' ');

const RECIPES: Recipe[] = [
  {
    module: 'etcd',
    describe: 'etcd v3.6.16 (go.etcd.io/etcd/server/v3)',
    packages: ['.'],
    outputs: ['etcd'],
    tags: [],
    ldflags: '-s -w',
  },
  {
    module: 'kube',
    describe: `kube-apiserver and kubectl ${KUBE_VERSION} (k8s.io/kubernetes)`,
    packages: ['k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kubectl'],
    outputs: ['kube-apiserver', 'kubectl'],
    tags: ['selinux', 'notest'],
    ldflags: `-s -w ${kubeVersionFlags}`,
  },
  {
    // Its own module (same k8s.io/kubernetes pin) so that adding it left kube's cache key alone.
    module: 'kube-controller-manager',
    describe: `kube-controller-manager ${KUBE_VERSION} (k8s.io/kubernetes)`,
    packages: ['k8s.io/kubernetes/cmd/kube-controller-manager'],
    outputs: ['kube-controller-manager'],
    tags: ['selinux', 'notest'],
    ldflags: `-s -w ${kubeVersionFlags}`,
  },
  {
    // The chart's lint and template tests (not a server; built and cached the same way).
    module: 'helm',
    describe: 'helm v3.22.0 (helm.sh/helm/v3)',
    packages: ['helm.sh/helm/v3/cmd/helm'],
    outputs: ['helm'],
    tags: [],
    ldflags: '-s -w',
  },
  {
    module: 'vault',
    describe: 'Vault v1.21.0 (github.com/hashicorp/vault)',
    packages: ['github.com/hashicorp/vault'],
    outputs: ['vault'],
    tags: [],
    ldflags: '-s -w',
  },
];

/** Absolute paths of the built server binaries. */
export interface ServerBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  helm: string;
  vault: string;
}

/** What the builder needs from its caller. */
export interface BuildOptions {
  /** Where built binaries are kept, e.g. ~/.cache/tokensmith/test-servers. */
  cacheDir: string;
  /** The environment `go` runs in (PATH, HOME, GOPATH, GOPROXY…). */
  env: Record<string, string | undefined>;
  /** The go command; default `go` from PATH. */
  goCommand?: string;
  /** Progress lines go here. */
  log: (line: string) => void;
}

/** Thrown when Go is missing or too old, with what to do about it. */
export class MissingPrerequisiteError extends Error {}

function goVersion(goCommand: string, env: BuildOptions['env']): string {
  const result = spawnSync(goCommand, ['env', 'GOVERSION'], { env, encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new MissingPrerequisiteError(
      `Go ${MINIMUM_GO.join('.')} or newer is required to build the test servers (etcd, kube-apiserver, ` +
        `Vault) from their Go modules, but \`${goCommand}\` could not be run` +
        `${result.error ? ` (${result.error.message})` : ''}. Install Go and put it on PATH, ` +
        `or point GO at the go binary.`,
    );
  }
  const version = result.stdout.trim();
  const match = /^go(\d+)\.(\d+)/.exec(version);
  const [major, minor] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || major < MINIMUM_GO[0] || (major === MINIMUM_GO[0] && minor < MINIMUM_GO[1])) {
    throw new MissingPrerequisiteError(
      `Go ${MINIMUM_GO.join('.')} or newer is required to build the test servers; found ${version || 'an unknown version'}. ` +
        `Upgrade Go (kube-apiserver 1.36 is built with Go 1.26).`,
    );
  }
  return version;
}

function cacheKey(recipe: Recipe): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(readFileSync(join(MODULES_ROOT, recipe.module, file)));
  hash.update(JSON.stringify(recipe));
  return hash.digest('hex').slice(0, 16);
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

async function run(
  command: string,
  args: string[],
  options: { cwd: string; env: BuildOptions['env']; logFile: string; onLine?: (line: string) => void },
): Promise<void> {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  log.write(`$ ${command} ${args.join(' ')}\n`);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(line + '\n');
      options.onLine?.(line);
    });
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  await new Promise((resolve) => log.end(resolve));
  if (code !== 0) {
    const tail = readFileSync(options.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n');
    throw new Error(
      `\`${command} ${args.join(' ')}\` failed (exit ${code}); see ${options.logFile}:\n${tail}`,
    );
  }
}

async function withLock<T>(lockDir: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(join(lockDir, 'pid'), { encoding: 'utf8', flag: 'a+' }));
      if (!owner || !isAlive(owner)) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(`waiting for another build (pid ${owner}) to finish…`);
      announced = true;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function build(
  recipe: Recipe,
  target: string,
  options: BuildOptions,
  goCommand: string,
): Promise<void> {
  const cwd = join(MODULES_ROOT, recipe.module);
  const staging = `${target}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const logFile = join(staging, 'build.log');
  const env = { ...options.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
  const started = Date.now();

  options.log(`building ${recipe.describe}: downloading modules…`);
  await run(goCommand, ['mod', 'download'], { cwd, env, logFile });

  let total = 0;
  await run(goCommand, ['list', '-deps', ...recipe.packages], { cwd, env, logFile, onLine: () => total++ });

  options.log(
    `building ${recipe.describe}: compiling (up to ${total} packages; a cold build takes minutes)…`,
  );
  let compiled = 0;
  const heartbeat = setInterval(() => {
    options.log(
      `  ${recipe.module}: ${compiled}/${total} packages compiled, ${formatDuration(Date.now() - started)}`,
    );
  }, 20_000);
  try {
    const args = ['build', '-v', '-trimpath', `-ldflags=${recipe.ldflags}`, '-o', staging + '/'];
    if (recipe.tags.length > 0) args.push(`-tags=${recipe.tags.join(',')}`);
    await run(goCommand, [...args, ...recipe.packages], {
      cwd,
      env,
      logFile,
      onLine: (line) => {
        if (!line.startsWith('#') && !line.includes(' ')) compiled++;
      },
    });
  } finally {
    clearInterval(heartbeat);
  }
  for (const output of recipe.outputs) {
    if (!existsSync(join(staging, output))) throw new Error(`go build produced no ${output} in ${staging}`);
  }
  writeFileSync(join(staging, '.complete'), new Date().toISOString());
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  options.log(`built ${recipe.describe} in ${formatDuration(Date.now() - started)}`);
}

/**
 * Returns the server binaries, building (and caching) those not built yet for the current pins.
 * Throws MissingPrerequisiteError when Go is absent or too old.
 */
export async function ensureServerBinaries(options: BuildOptions): Promise<ServerBinaries> {
  const goCommand = options.goCommand ?? 'go';
  mkdirSync(options.cacheDir, { recursive: true });
  const dirs = new Map<string, string>();
  for (const recipe of RECIPES) {
    // The pins and the recipe define a binary; a warm cache needs no Go at all.
    const target = join(options.cacheDir, `${recipe.module}-${cacheKey(recipe)}`);
    if (!existsSync(join(target, '.complete'))) {
      goVersion(goCommand, options.env);
      await withLock(join(options.cacheDir, `${recipe.module}.lock`), options.log, async () => {
        if (!existsSync(join(target, '.complete'))) await build(recipe, target, options, goCommand);
      });
    }
    dirs.set(recipe.module, target);
  }
  const dir = (module: string) => dirs.get(module) ?? '';
  return {
    etcd: join(dir('etcd'), 'etcd'),
    kubeApiserver: join(dir('kube'), 'kube-apiserver'),
    kubeControllerManager: join(dir('kube-controller-manager'), 'kube-controller-manager'),
    kubectl: join(dir('kube'), 'kubectl'),
    helm: join(dir('helm'), 'helm'),
    vault: join(dir('vault'), 'vault'),
  };
}
