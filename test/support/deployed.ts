/**
 * The controller as a deployed ServiceAccount runs it, for the e2e tests of deploy/: kubectl with
 * the environment's kubeconfig, `kubectl auth can-i` as that account, and a controller started
 * with that account's token (so only the RBAC it was given applies).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import type { Config } from '../../src/config.ts';
import { adminKubeConfig, bearerKubeConfig, environment } from './environment.ts';
import { startTestOperator, type TestOperator } from './operator.ts';

const run = promisify(execFile);

/** Runs the environment's kubectl as the administrator; resolves to stdout. */
export async function kubectl(...args: string[]): Promise<string> {
  const env = environment();
  return (await run(env.kubectlPath, ['--kubeconfig', env.kubeconfigPath, ...args])).stdout;
}

/** `kubectl auth can-i … --as` the service account: "yes" or "no" (it exits 1 for no). */
export function canIAs(namespace: string, account: string) {
  return async (...args: string[]): Promise<string> => {
    try {
      return (
        await kubectl('auth', 'can-i', ...args, '--as', `system:serviceaccount:${namespace}:${account}`)
      ).trim();
    } catch (err) {
      return String((err as { stdout?: unknown }).stdout).trim();
    }
  };
}

/** Starts a controller that authenticates as the service account (a fresh one-hour token). */
export async function startOperatorAs(
  namespace: string,
  account: string,
  config: Config,
): Promise<TestOperator> {
  const { status } = await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccountToken({
      namespace,
      name: account,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
  return startTestOperator(config, undefined, bearerKubeConfig(status?.token ?? ''));
}
