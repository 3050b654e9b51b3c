/**
 * The real controller as a child process against the test environment, as the integration tests
 * start it: only this file's namespaces and ClusterTokenIssuers, no leader election, debug logs.
 */
import { environment } from './environment.ts';
import { issuerOwnerSelector } from './resources.ts';
import { spawnController, type ControllerProcess } from './spawnController.ts';

export { stopAllControllers, type ControllerExit, type ControllerProcess } from './spawnController.ts';

export interface ControllerOptions {
  /** Policies are watched in these namespaces only. */
  namespaces: string[];
  clusterResourceNamespace: string;
  /** TOKENSMITH_FAULT_INJECTION: `<step>[:<mint reason>]`. */
  faultInjection?: string;
  /** Elect through the Lease in this namespace instead of running without election. */
  leaderElectionNamespace?: string;
  /** More flags (e.g. the verification server's). */
  extraArgs?: string[];
  /** Another cluster than the environment's (a private control plane). */
  kubeconfigPath?: string;
}

/** Starts `node src/main.ts run` with the environment's kubeconfig, Vault and root token. */
export function startController(options: ControllerOptions): ControllerProcess {
  const env = environment();
  return spawnController(
    { ...env, kubeconfigPath: options.kubeconfigPath ?? env.kubeconfigPath },
    [
      `--cluster-resource-namespace=${options.clusterResourceNamespace}`,
      // Only this file's ClusterTokenIssuers (see setIssuerOwner in resources.ts).
      `--cluster-issuer-selector=${issuerOwnerSelector(options.clusterResourceNamespace)}`,
      ...options.namespaces.map((ns) => `--namespace=${ns}`),
      '--schedule-jitter=0s',
      '--log-level=debug',
      options.leaderElectionNamespace === undefined
        ? '--no-leader-elect'
        : `--leader-election-namespace=${options.leaderElectionNamespace}`,
      ...(options.extraArgs ?? []),
    ],
    options.faultInjection === undefined ? {} : { TOKENSMITH_FAULT_INJECTION: options.faultInjection },
  );
}
