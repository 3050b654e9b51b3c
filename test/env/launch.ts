/** The one way the environment's three users (CLI, test setup, dev runner) get servers running. */
import { ensureServerBinaries, type ServerBinaries } from './binaries.ts';
import { TestEnvironment } from './environment.ts';
import { containerMode, prepareContainers } from './containers.ts';
import { runInContainers } from './process.ts';
import type { EnvironmentSettings } from './settings.ts';

/** Builds (or finds in the cache) the server binaries. */
export function serverBinaries(
  settings: EnvironmentSettings,
  log: (line: string) => void,
): Promise<ServerBinaries> {
  return ensureServerBinaries({
    cacheDir: settings.cacheDir,
    env: settings.childEnv,
    goCommand: settings.goCommand,
    log,
  });
}

/**
 * Builds or finds the binaries, then starts etcd, kube-apiserver, kube-controller-manager and
 * Vault with the CRDs applied — as local processes, or with TOKENSMITH_TEST_ENV=containers in
 * containers (containers.ts).
 */
export async function launchEnvironment(
  settings: EnvironmentSettings,
  log: (line: string) => void,
): Promise<TestEnvironment> {
  const binaries = await serverBinaries(settings, log);
  if (!containerMode()) {
    return TestEnvironment.start({ binaries, env: settings.childEnv, crdDir: settings.crdDir, log });
  }
  const containers = prepareContainers(binaries, log);
  runInContainers(containers.launchers);
  log('servers run in containers (TOKENSMITH_TEST_ENV=containers)');
  const env = await TestEnvironment.start({ binaries, env: settings.childEnv, crdDir: settings.crdDir, log });
  const stop = env.stop.bind(env);
  env.stop = async () => {
    await stop();
    containers.stop();
  };
  return env;
}
