/**
 * The test environment's settings, read from the process environment once by each entry point
 * (the CLI, the vitest global setup, the dev runner) and passed down.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** Settings shared by every user of the test environment. */
export interface EnvironmentSettings {
  cacheDir: string;
  goCommand: string;
  crdDir: string;
  /** The environment for `go` and the servers. */
  childEnv: Record<string, string | undefined>;
}

/**
 * Reads TOKENSMITH_TEST_CACHE (default $XDG_CACHE_HOME/tokensmith/test-servers, else
 * ~/.cache/tokensmith/test-servers) and GO (default `go`).
 */
export function settingsFromProcess(env: NodeJS.ProcessEnv = process.env): EnvironmentSettings {
  const cacheRoot = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return {
    cacheDir: env.TOKENSMITH_TEST_CACHE || join(cacheRoot, 'tokensmith', 'test-servers'),
    goCommand: env.GO || 'go',
    crdDir: join(REPO_ROOT, 'crds'),
    // The servers must not inherit a developer's cluster or Vault settings.
    childEnv: { ...env, KUBECONFIG: undefined, VAULT_ADDR: undefined, VAULT_TOKEN: undefined },
  };
}
