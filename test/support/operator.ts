/**
 * Runs the tokensmith controller in the test process against the test environment, with its log
 * captured so tests can read it (and scan it for leaks).
 */
import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../../src/config.ts';
import type { Clock } from '../../src/ports.ts';
import { createLogger } from '../../src/log.ts';
import { startOperator, type Operator } from '../../src/operator.ts';
import { systemClock } from '../../src/util/clock.ts';
import { adminKubeConfig, createNamespace, environment, uniqueName, vaultClient } from './environment.ts';
import { issuerOwnerSelector, setIssuerOwner } from './resources.ts';

export interface TestOperator {
  operator: Operator;
  config: Config;
  /** Every log line so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** Enables a secrets engine at a unique path and returns the path. */
export async function enableEngine(type: 'transit' | 'kv-v2', prefix: string): Promise<string> {
  const path = uniqueName(prefix);
  await vaultClient().mount({
    mount_point: path,
    type,
    ...(type === 'kv-v2' ? { options: { version: '2' } } : {}),
  });
  return path;
}

/** A Config for tests: one namespace, root-token Vault auth unless overridden, no leader election. */
export function testConfig(overrides: {
  namespace: string;
  transitMount: string;
  pathPrefix?: string;
  concurrency?: number;
  relistIntervalMs?: number;
  listPageSize?: number;
  resyncPeriodMs?: number;
  vaultTimeoutMs?: number;
  minRotationIntervalMs?: number;
}): Config {
  const env = environment();
  // Test files share one API server: each controller serves only the ClusterTokenIssuers its own
  // file creates (createClusterIssuer labels them), or controllers would fight over status.
  setIssuerOwner(overrides.namespace);
  return {
    kubeconfig: env.kubeconfigPath,
    namespaces: [overrides.namespace],
    installScope: 'cluster',
    clusterResourceNamespace: overrides.namespace,
    clusterIssuerSelector: issuerOwnerSelector(overrides.namespace),
    vault: {
      address: env.vaultAddress,
      caPem: readFileSync(env.vaultCaCertPath, 'utf8'),
      tlsServerName: undefined,
      auth: { method: 'token', token: env.vaultToken },
      kvMount: 'secret',
      pathPrefix: overrides.pathPrefix ?? uniqueName('tokensmith'),
      transitMount: overrides.transitMount,
      qps: 200,
      burst: 400,
      timeoutMs: overrides.vaultTimeoutMs ?? 10_000,
    },
    kube: { qps: 200, burst: 400 },
    concurrency: overrides.concurrency ?? 4,
    scheduleJitterMs: 0,
    minRotationIntervalMs: overrides.minRotationIntervalMs ?? 60_000,
    resyncPeriodMs: overrides.resyncPeriodMs ?? 4 * 3600_000,
    relistIntervalMs: overrides.relistIntervalMs ?? 5 * 60_000,
    listPageSize: overrides.listPageSize ?? 500,
    workloadRestartQps: 50,
    logLevel: 'debug',
    leaderElection: {
      enabled: false,
      namespace: overrides.namespace,
      name: 'tokensmith',
      identity: uniqueName('test'),
    },
    verify: undefined,
    metrics: undefined,
  };
}

/** Starts a controller without waiting for it to lead and sync (see `operator.ready`). */
export function launchTestOperator(
  config: Config,
  clock: Clock = systemClock,
  kubeConfig: KubeConfig = adminKubeConfig(),
): TestOperator {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  const log = createLogger({ level: config.logLevel, destination });
  const operator = startOperator({ config, kubeConfig, log, clock });
  return { operator, config, logs: () => lines.join(''), stop: () => operator.stop() };
}

/** Starts a controller and waits until it leads (if electing) and its caches are synced. */
export async function startTestOperator(
  config: Config,
  clock: Clock = systemClock,
  kubeConfig: KubeConfig = adminKubeConfig(),
): Promise<TestOperator> {
  const started = launchTestOperator(config, clock, kubeConfig);
  await started.operator.ready;
  return started;
}

/**
 * A namespace `<prefix>-<random>` of the test file's own, a transit mount, and a controller that
 * serves that namespace (testConfig plus `overrides`); for afterAll, `operator.stop()`.
 */
export async function startInNamespace(
  prefix: string,
  overrides: Omit<Parameters<typeof testConfig>[0], 'namespace' | 'transitMount'> = {},
): Promise<{ namespace: string; transitMount: string; operator: TestOperator }> {
  const namespace = await createNamespace(prefix);
  const transitMount = await enableEngine('transit', 'transit');
  const operator = await startTestOperator(testConfig({ namespace, transitMount, ...overrides }));
  return { namespace, transitMount, operator };
}

/**
 * Waits until `operator` has reconciled the policy to the end at generation `generation` (and, if
 * given, with token version `version` current), from its own log: proof that this process acted,
 * where a status that was already right would prove nothing. `since`: only log written after
 * that many characters (`operator.logs().length` taken before the change that should cause it).
 */
export async function waitForReconciled(
  operator: TestOperator,
  policy: { namespace: string; name: string },
  expected: { generation?: number; version?: number; since?: number } = {},
  timeout = 15_000,
): Promise<void> {
  const { expect } = await import('vitest');
  await expect
    .poll(
      () =>
        operator
          .logs()
          .slice(expected.since ?? 0)
          .split('\n')
          .some((line) => {
            if (!line.includes(`"tokenPolicy":"${policy.namespace}/${policy.name}"`)) return false;
            if (!line.includes('"msg":"reconciled"')) return false;
            const entry = JSON.parse(line) as { generation?: number; version?: number };
            return (
              (expected.generation === undefined || entry.generation === expected.generation) &&
              (expected.version === undefined || entry.version === expected.version)
            );
          }),
      { timeout },
    )
    .toBe(true);
}
