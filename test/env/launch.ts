/** The one way the environment's three users (CLI, test setup, dev runner) get servers running. */
import { ensureServerBinaries, type ServerBinaries } from './binaries.ts';
import { TestEnvironment } from './environment.ts';
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

/** Builds or finds the binaries, then starts etcd, kube-apiserver and Vault with the CRDs applied. */
export async function launchEnvironment(
  settings: EnvironmentSettings,
  log: (line: string) => void,
): Promise<TestEnvironment> {
  const binaries = await serverBinaries(settings, log);
  return TestEnvironment.start({ binaries, env: settings.childEnv, crdDir: settings.crdDir, log });
}
