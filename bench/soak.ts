/**
 * `npm run bench:soak`: hours of token time with random faults. A control plane (etcd +
 * kube-apiserver) and a restartable Vault of its own, the controller as its own process on an
 * accelerated clock (TOKENSMITH_TEST_CLOCK: every controller process started shares one timeline,
 * so a restarted one carries on where the killed one was), N opaque policies rotating every 20
 * token-minutes (ttl 30m, renewBefore 10m, overlap 2m). While it runs, a fault every few seconds,
 * at random: the controller SIGKILLed (and started again), Vault paused (SIGSTOP: connections hang)
 * or kube-apiserver SIGKILLed and started again. A Secret checker lists the Secrets every 250 ms.
 * At the end, with the faults over, the invariant report:
 *   - every token a Secret held is recorded in Vault for its policy;
 *   - none was seen expired, or after its version was revoked;
 *   - no rotation twice for one due time (consecutive renewals at least the renewal interval apart);
 *   - every policy Ready, its Secret holding the current version;
 *   - the controller never exited but by the soak's own kills.
 * Exit code 1 when an invariant is broken. A short run is in `npm test`
 * (test/integration/faults/soak.test.ts); hours of token time take minutes:
 *
 *   npm run bench:soak -- --duration 10m --factor 60 --policies 20 --fault-every 15s
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import vault from 'node-vault';
import { GROUP, LABEL, PLURAL, VERSION } from '../src/api/constants.ts';
import type { TokenPolicy } from '../src/api/v1alpha1.generated.ts';
import { parseDuration } from '../src/core/duration.ts';
import { tokenHash } from '../src/core/fingerprint.ts';
import type { PolicyTokenRecord } from '../src/core/records.ts';
import { startControlPlane } from '../test/env/controlPlane.ts';
import { serverBinaries } from '../test/env/launch.ts';
import { startPersistentVault } from '../test/env/persistentVault.ts';
import { settingsFromProcess } from '../test/env/settings.ts';
import {
  spawnController,
  stopAllControllers,
  type ControllerProcess,
} from '../test/support/spawnController.ts';
import { soakInvariants } from './soakInvariants.ts';
import { createOpaquePolicy, createReadyClusterIssuer, positiveFlag, sleep } from './support.ts';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    factor: { type: 'string' },
    policies: { type: 'string' },
    'fault-every': { type: 'string' },
    report: { type: 'string' },
  },
});
const durationMs = parseDuration(flags.duration ?? '10m');
const factor = positiveFlag('factor', flags.factor, 60);
const policyCount = positiveFlag('policies', flags.policies, 20, true);
const faultEveryMs = parseDuration(flags['fault-every'] ?? '15s');
const TTL = '30m';
const RENEW_BEFORE = '10m';
const OVERLAP = '2m';
const RENEW_INTERVAL_MS = parseDuration(TTL) - parseDuration(RENEW_BEFORE);
const CHECK_EVERY_MS = 250;
const NAMESPACE = 'soak';
const SYSTEM_NAMESPACE = 'tokensmith-system';
const ISSUER = 'soak';
const PATH_PREFIX = 'tokensmith-soak';

const log = (line: string) => process.stdout.write(`${line}\n`);
/** Where the controllers' timeline starts (TOKENSMITH_TEST_CLOCK): when the first one starts. */
let origin = Date.now();
/** The timeline the controllers live on. */
const tokenNow = () => origin + (Date.now() - origin) * factor;
const tokenHours = (ms: number) => ((ms * factor) / 3_600_000).toFixed(1);

type FaultKind = 'controller-killed' | 'vault-paused' | 'kube-apiserver-restarted';

async function main(): Promise<number> {
  const settings = settingsFromProcess();
  const binaries = await serverBinaries(settings, log);
  const dir = mkdtempSync(join(tmpdir(), 'tokensmith-soak-'));
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    const plane = await startControlPlane({
      binaries,
      dir: join(dir, 'cluster'),
      env: settings.childEnv,
      crdDir: settings.crdDir,
      names: { etcd: 'etcd-soak', kubeApiserver: 'kube-apiserver-soak' },
    });
    cleanups.push(() => plane.stop());
    const pv = await startPersistentVault({ binary: binaries.vault, dir, env: settings.childEnv });
    cleanups.push(async () => {
      pv.resume();
      await pv.stop({ kill: true });
    });
    cleanups.push(() => stopAllControllers());
    return await soak(plane.kubeconfigPath, pv, plane.kube.server);
  } finally {
    await cleanup();
  }
}

async function soak(
  kubeconfigPath: string,
  pv: Awaited<ReturnType<typeof startPersistentVault>>,
  kubeApiserver: { stop(o?: { kill?: boolean }): Promise<void>; start(): Promise<void> },
): Promise<number> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const name of [NAMESPACE, SYSTEM_NAMESPACE])
    await core.createNamespace({ body: { metadata: { name } } });
  // The controller, started again after each kill; an exit the soak did not cause is a finding.
  let controller: ControllerProcess | undefined;
  let killing = false;
  const unexpectedExits: string[] = [];
  const startOne = () => {
    const started = spawnController(
      { kubeconfigPath, vaultAddress: pv.address, vaultCaCertPath: pv.caCertPath, vaultToken: pv.token },
      [
        `--cluster-resource-namespace=${SYSTEM_NAMESPACE}`,
        `--namespace=${NAMESPACE}`,
        '--no-leader-elect',
        '--metrics-port=off',
        '--vault-timeout=3s',
        '--schedule-jitter=0s',
      ],
      { TOKENSMITH_TEST_CLOCK: `${origin}:${factor}` },
    );
    void started.exited.then((exit) => {
      if (!killing && controller === started)
        unexpectedExits.push(`exit ${String(exit.code)}/${String(exit.signal)}: ${started.tail(5)}`);
    });
    controller = started;
  };
  origin = Date.now();
  startOne();

  await createReadyClusterIssuer(custom, ISSUER, {
    vault: { mount: 'secret', pathPrefix: PATH_PREFIX },
    signing: { backend: 'kv' },
  });
  const names = Array.from({ length: policyCount }, (_, i) => `policy-${i}`);
  for (const name of names) {
    await createOpaquePolicy(custom, ISSUER, NAMESPACE, name, {
      ttl: TTL,
      rotation: { renewBefore: RENEW_BEFORE, overlap: OVERLAP, historyLimit: 50 },
    });
  }

  // The Secret checker: every token seen, with the token-time it was seen at.
  const seen = new Map<string, Map<string, number[]>>();
  const checking = new AbortController();
  const checker = (async () => {
    while (!checking.signal.aborted) {
      const at = tokenNow();
      const list = await core.listNamespacedSecret({ namespace: NAMESPACE }).catch(() => undefined);
      for (const secret of list?.items ?? []) {
        const policy = secret.metadata?.labels?.[LABEL.policy];
        const token = secret.data?.TOKEN;
        if (!policy || !token) continue;
        const hash = tokenHash(Buffer.from(token, 'base64').toString('utf8'));
        const byHash = seen.get(policy) ?? new Map<string, number[]>();
        const times = byHash.get(hash) ?? [];
        times.push(at);
        byHash.set(hash, times);
        seen.set(policy, byHash);
      }
      await sleep(CHECK_EVERY_MS);
    }
  })();

  // The faults.
  const faults: Record<FaultKind, number> = {
    'controller-killed': 0,
    'vault-paused': 0,
    'kube-apiserver-restarted': 0,
  };
  const bag: FaultKind[] = [];
  const started = Date.now();
  log(
    `soak: ${policyCount} policies, ${factor}× clock, ${(durationMs / 1000).toFixed(0)} s (${tokenHours(durationMs)} h of token time), a fault every ~${faultEveryMs / 1000} s`,
  );
  while (Date.now() - started < durationMs) {
    await sleep(faultEveryMs * (0.5 + Math.random()));
    if (Date.now() - started >= durationMs) break;
    // Each kind once per round, in a random order: a short run still has every kind.
    if (bag.length === 0) bag.push(...(Object.keys(faults) as FaultKind[]).sort(() => Math.random() - 0.5));
    const kind = bag.pop() ?? 'controller-killed';
    faults[kind] += 1;
    if (kind === 'controller-killed') {
      killing = true;
      await controller?.stop(0);
      killing = false;
      await sleep(500 + Math.random() * 2000);
      startOne();
    } else if (kind === 'vault-paused') {
      pv.pause();
      await sleep(2000 + Math.random() * 4000);
      pv.resume();
    } else {
      await kubeApiserver.stop({ kill: true });
      await sleep(1000 + Math.random() * 2000);
      await kubeApiserver.start();
    }
    log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${kind}`);
  }
  const faultsOverAt = Date.now();

  // Settle: every policy Ready with its Secret on the current version.
  const client = vault({ endpoint: pv.address, token: pv.token, requestOptions: { ca: pv.caCertPem } });
  const record = async (name: string) =>
    (
      (await client.read(`secret/data/${PATH_PREFIX}/policies/${NAMESPACE}/${name}`)) as {
        data: { data: PolicyTokenRecord };
      }
    ).data.data;
  const settledProblems = async (): Promise<string[]> => {
    const problems: string[] = [];
    for (const name of names) {
      const policy = (await custom
        .getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: NAMESPACE,
          plural: PLURAL.tokenPolicy,
          name,
        })
        .catch(() => undefined)) as TokenPolicy | undefined;
      const ready = policy?.status?.conditions?.find((c) => c.type === 'Ready');
      const r = await record(name).catch(() => undefined);
      const secret = await core
        .readNamespacedSecret({ namespace: NAMESPACE, name: `${name}-token` })
        .catch(() => undefined);
      const hash = tokenHash(Buffer.from(secret?.data?.TOKEN ?? '', 'base64').toString('utf8'));
      const current = r?.versions.find((v) => v.version === r.currentVersion);
      if (ready?.status !== 'True')
        problems.push(`${name}: Ready ${ready?.status ?? '-'}/${ready?.reason ?? '-'}`);
      else if (current?.tokenHash !== hash)
        problems.push(`${name}: the Secret does not hold the current version`);
    }
    return problems;
  };
  let problems = await settledProblems();
  for (const deadline = Date.now() + 120_000; problems.length > 0 && Date.now() < deadline;) {
    await sleep(1000);
    problems = await settledProblems();
  }
  const settleMs = Date.now() - faultsOverAt;
  checking.abort();
  await checker;
  const endedAt = tokenNow();

  // The invariants.
  const violations: string[] = problems.map((p) => `not settled: ${p}`);
  violations.push(...unexpectedExits.map((e) => `the controller exited on its own: ${e}`));
  const records = new Map<string, PolicyTokenRecord | undefined>();
  for (const name of names) records.set(name, await record(name).catch(() => undefined));
  const findings = soakInvariants({
    records,
    seen,
    // A list is a snapshot of up to two checker ticks ago.
    slackMs: 2 * CHECK_EVERY_MS * factor,
    renewIntervalMs: RENEW_INTERVAL_MS,
    endedAt,
  });
  violations.push(...findings.violations);
  const { rotations, observations } = findings;
  const tokenMs = endedAt - origin;
  const expected = findings.due;
  const report = {
    policies: policyCount,
    factor,
    realSeconds: Math.round((Date.now() - started) / 1000),
    tokenHours: Number((tokenMs / 3_600_000).toFixed(2)),
    faults,
    rotations,
    rotationsDue: expected,
    mintReasons: findings.mintReasons,
    secretObservations: observations,
    settledAfterFaultsSeconds: Number((settleMs / 1000).toFixed(1)),
    violations,
  };
  log(
    `soak report: ${report.tokenHours} h of token time in ${report.realSeconds} s; faults ${JSON.stringify(faults)}; ` +
      `${rotations} rotations (${expected} due since each policy's first token); mint reasons ${JSON.stringify(report.mintReasons)}; ` +
      `${observations} Secret observations; settled ${report.settledAfterFaultsSeconds} s after the last fault; ` +
      `${violations.length} invariant violations${violations.length ? `:\n  ${violations.slice(0, 20).join('\n  ')}` : ''}`,
  );
  if (flags.report) writeFileSync(flags.report, JSON.stringify(report, null, 2));
  return violations.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
