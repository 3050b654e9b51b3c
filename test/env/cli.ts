/**
 * `npm run env -- <command>`: the test environment for people.
 *   build  build (or find in the cache) the server binaries
 *   up     start etcd, kube-apiserver and Vault, print `export` lines, stay up until Ctrl-C
 */
import { MissingPrerequisiteError } from './binaries.ts';
import { serverBinaries } from './launch.ts';
import { TestEnvironment } from './environment.ts';
import { settingsFromProcess } from './settings.ts';

const USAGE = `usage: npm run env -- <command>

commands:
  build   build the test servers from their Go modules (cached; a cold build takes minutes)
  up      start etcd, kube-apiserver and Vault on loopback, print export lines, stay up until Ctrl-C

environment:
  TOKENSMITH_TEST_CACHE   where built servers are cached (default ~/.cache/tokensmith/test-servers)
  GO                      the go command (default: go on PATH)`;

const log = (line: string) => process.stderr.write(`[env] ${line}\n`);

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (command !== 'build' && command !== 'up') {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
  const settings = settingsFromProcess();
  const binaries = await serverBinaries(settings, log);
  if (command === 'build') {
    for (const [name, path] of Object.entries(binaries)) process.stdout.write(`${name}\t${path}\n`);
    return 0;
  }

  const env = await TestEnvironment.start({ binaries, env: settings.childEnv, crdDir: settings.crdDir, log });
  const stop = async (signal: string) => {
    log(`${signal}: stopping…`);
    await env.stop();
    log('stopped; nothing left running');
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.once(signal, () => void stop(signal));

  const lines = Object.entries(env.exports()).map(([k, v]) => `export ${k}=${v}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  log(`kubectl: ${env.connection.kubectlPath}`);
  log(`server logs: ${env.connection.dir}`);
  log('up; press Ctrl-C to stop');
  setInterval(() => undefined, 1 << 30); // stay up until a signal arrives
  return new Promise<number>(() => undefined);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(
      err instanceof MissingPrerequisiteError
        ? err.message
        : err instanceof Error
          ? (err.stack ?? err.message)
          : String(err),
    );
    process.exit(1);
  },
);
