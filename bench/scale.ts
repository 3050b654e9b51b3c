/**
 * `npm run bench:scale`: N opaque policies (default 10,000, over 10 namespaces) created in a burst
 * while the controller runs as its own process (`node src/main.ts run`, as users run it), against
 * the real test environment. Printed: how long the creates took and how long until every policy
 * was Ready, the controller's CPU seconds per 1,000 policies and its RSS (idle, peak, settled),
 * requests per policy to the kube-apiserver, watches the API server terminated, and the count the
 * controller logs when it restarts with the N policies in place (it must be N).
 *
 *   npm run bench:scale -- --policies 10000 --namespaces 10 --concurrency 4
 *
 * Not part of `npm test` (figures are printed, never asserted). Everything it starts stops at the
 * end, on an error and on Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesListObject,
  type V1Namespace,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../src/api/constants.ts';
import type { TokenPolicy } from '../src/api/v1alpha1.generated.ts';
import { createInformer } from '../src/kube/informer.ts';
import { VaultClient } from '../src/vault/client.ts';
import type { TestEnvironment } from '../test/env/environment.ts';
import { freePort } from '../test/env/ports.ts';
import { REPO_ROOT } from '../test/env/settings.ts';
import { processStats, spawnController, type ControllerProcess } from '../test/support/spawnController.ts';
import {
  createOpaquePolicy,
  createReadyClusterIssuer,
  kubeMetricsText,
  kubeRequestCounts,
  metricSamples,
  percentile,
  pool,
  positiveFlag,
  readyTrue,
  secs,
  sleep,
  startBenchEnvironment,
} from './support.ts';

const ISSUER = 'scale';
const SYSTEM_NAMESPACE = 'scale-system';
const note = (line: string) => process.stderr.write(`[scale] ${line}\n`);
const print = (line: string) => process.stdout.write(`${line}\n`);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

interface Options {
  policies: number;
  namespaces: number;
  concurrency: number;
  createConcurrency: number;
  kubeQps: number;
  vaultQps: number;
  restart: boolean;
  timeoutMs: number;
  profileDir: string | undefined;
  nodeArgs: string[];
  idleMs: number;
  compiled: boolean;
}

const HELP = `usage: npm run bench:scale -- [flags]

  --policies N            opaque policies (default 10000)
  --namespaces N          spread over this many namespaces (default 10)
  --concurrency N         the controller's --concurrency (default 4)
  --create-concurrency N  creates in flight at once (default 50)
  --kube-qps Q            the controller's --kube-qps (default 200; burst 2×)
  --vault-qps Q           the controller's --vault-qps (default 200; burst 2×)
  --no-restart            skip restarting the controller with the N policies in place
  --timeout-minutes M     give up waiting for all Ready after this long (default 30)
  --node-args ARGS        options for the controller's node, space-separated (e.g. "--max-semi-space-size=4")
  --compiled              run the controller compiled to JavaScript (tsc, as the image does)
                          instead of from the TypeScript sources
  --idle-seconds S        how long idle CPU is measured with the N in place (default 60; the
                          informers' watchdog relists every --relist-interval, 5 minutes)
  --profile DIR           write the controller's CPU profile (--cpu-prof) and a heap snapshot
                          taken when settled (SIGUSR2) into DIR
`;

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      policies: { type: 'string' },
      namespaces: { type: 'string' },
      concurrency: { type: 'string' },
      'create-concurrency': { type: 'string' },
      'kube-qps': { type: 'string' },
      'vault-qps': { type: 'string' },
      'no-restart': { type: 'boolean' },
      'timeout-minutes': { type: 'string' },
      profile: { type: 'string' },
      'node-args': { type: 'string' },
      'idle-seconds': { type: 'string' },
      compiled: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const whole = (flag: string, value: string | undefined, fallback: number) =>
    positiveFlag(flag, value, fallback, true);
  return {
    policies: whole('policies', values.policies, 10_000),
    namespaces: whole('namespaces', values.namespaces, 10),
    concurrency: whole('concurrency', values.concurrency, 4),
    createConcurrency: whole('create-concurrency', values['create-concurrency'], 50),
    kubeQps: whole('kube-qps', values['kube-qps'], 200),
    vaultQps: whole('vault-qps', values['vault-qps'], 200),
    restart: !values['no-restart'],
    timeoutMs: whole('timeout-minutes', values['timeout-minutes'], 30) * 60_000,
    profileDir: values.profile,
    nodeArgs: (values['node-args'] ?? '').split(' ').filter((a) => a !== ''),
    compiled: values.compiled === true,
    idleMs: whole('idle-seconds', values['idle-seconds'], 60) * 1000,
  };
}

/** Compiles src/ with tsc (tsconfig.build.json) into .bench-dist/ beside it; returns its main.js. */
function compile(): string {
  const outDir = join(REPO_ROOT, '.bench-dist');
  rmSync(outDir, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(REPO_ROOT, 'tsconfig.build.json'),
      '--outDir',
      outDir,
    ],
    { stdio: 'inherit' },
  );
  return join(outDir, 'main.js');
}

/** Samples a process's RSS every second, keeping the peak. */
function sampleProcess(pid: number) {
  let peak = 0;
  const timer = setInterval(() => {
    const stats = processStats(pid);
    if (stats) peak = Math.max(peak, stats.peakRssBytes, stats.rssBytes);
  }, 1000);
  return {
    peak: () => Math.max(peak, processStats(pid)?.peakRssBytes ?? 0),
    stop: () => {
      clearInterval(timer);
    },
  };
}

/** The controller's log lines (JSON), parsed. */
function logEntries(controller: ControllerProcess): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const line of controller.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial line
    }
  }
  return entries;
}

/** Waits for the controller's "caches synced" line and returns the policy count it logged. */
async function waitForSynced(controller: ControllerProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const synced = logEntries(controller).find((e) => e.msg === 'caches synced');
    if (synced) return Number(synced.policies);
    if (Date.now() > deadline)
      throw new Error(`the controller did not sync within ${secs(timeoutMs)}:\n${controller.tail()}`);
    await sleep(200);
  }
}

/** Warnings and errors the controller logged, by message. */
function warningSummary(controller: ControllerProcess): string {
  const counts = new Map<string, number>();
  for (const e of logEntries(controller)) {
    if (e.level !== 'warn' && e.level !== 'error' && e.level !== 'fatal') continue;
    const key = `${e.level}: ${String(e.msg)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ×${n}`).join('; ') || 'none';
}

async function terminatedWatchers(kc: KubeConfig): Promise<string> {
  const samples = metricSamples(await kubeMetricsText(kc), 'apiserver_terminated_watchers_total');
  return samples.map((s) => `${s.labels.resource ?? '?'} ${s.value}`).join(', ') || '0';
}

/** The controller's Vault requests so far, by operation (from its own /metrics). */
async function vaultRequestCounts(metricsPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const counts = new Map<string, number>();
  for (const { labels, value } of metricSamples(await res.text(), 'tokensmith_vault_requests_total')) {
    const key = labels.operation ?? '?';
    counts.set(key, (counts.get(key) ?? 0) + value);
  }
  return counts;
}

/** Per-policy request figures between two counts: the total and the largest rows. */
function perPolicy(before: Map<string, number>, after: Map<string, number>, n: number, skip = ''): string {
  let total = 0;
  const rows: [string, number][] = [];
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d <= 0 || k === skip) continue;
    total += d;
    rows.push([k, d]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  return (
    `${(total / n).toFixed(2)} per policy — ` +
    rows
      .slice(0, 8)
      .map(([k, d]) => `${k} ${(d / n).toFixed(2)}`)
      .join(', ')
  );
}

const latencyLine = (label: string, ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted.length === 0
    ? `${label}: none measured`
    : `${label}: p50 ${secs(percentile(sorted, 50))}, p99 ${secs(percentile(sorted, 99))}, max ${secs(sorted.at(-1) ?? NaN)} (${sorted.length} probes)`;
};

const running: { env?: TestEnvironment; controller?: ControllerProcess } = {};

async function shutdown(): Promise<void> {
  const { env, controller } = running;
  running.env = undefined;
  running.controller = undefined;
  if (controller) await controller.stop(10_000).catch(() => undefined);
  if (env) await env.stop();
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === 'help') {
    print(HELP);
    return;
  }
  const N = options.policies;
  const env = await startBenchEnvironment(note);
  running.env = env;
  const conn = env.connection;
  const kc = new KubeConfig();
  kc.loadFromFile(conn.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const vault = new VaultClient({
    address: conn.vaultAddress,
    caPem: readFileSync(conn.vaultCaCertPath, 'utf8'),
    auth: { method: 'token', token: conn.vaultToken },
  });
  await vault.write('sys/mounts/transit', { type: 'transit' }, 'enable transit');
  vault.close();
  const namespaces = Array.from({ length: options.namespaces }, (_, i) => `scale-${i}`);
  for (const name of [SYSTEM_NAMESPACE, ...namespaces]) {
    const body: V1Namespace = { metadata: { name } };
    await core.createNamespace({ body });
  }

  const metricsPort = await freePort();
  const controllerArgs = [
    `--cluster-resource-namespace=${SYSTEM_NAMESPACE}`,
    '--no-leader-elect',
    '--log-level=info',
    `--concurrency=${options.concurrency}`,
    `--kube-qps=${options.kubeQps}`,
    `--kube-burst=${options.kubeQps * 2}`,
    `--vault-qps=${options.vaultQps}`,
    `--vault-burst=${options.vaultQps * 2}`,
    `--metrics-port=${metricsPort}`,
  ];
  print(
    `settings: ${N} opaque policies over ${options.namespaces} namespaces, controller --concurrency ${options.concurrency}, ` +
      `kube qps ${options.kubeQps}, vault qps ${options.vaultQps}, creates ${options.createConcurrency} at once, ${cpus().length} CPUs`,
  );
  const launch = {
    ...(options.compiled ? { entry: compile() } : {}),
    nodeArgs: [
      ...options.nodeArgs,
      ...(options.profileDir
        ? [
            '--cpu-prof',
            `--cpu-prof-dir=${options.profileDir}`,
            '--heapsnapshot-signal=SIGUSR2',
            `--diagnostic-dir=${options.profileDir}`,
          ]
        : []),
    ],
  };
  const controller = spawnController(conn, controllerArgs, {}, launch);
  running.controller = controller;
  await waitForSynced(controller, 60_000);
  await createReadyClusterIssuer(custom, ISSUER, 'transit');
  await sleep(5000);
  const idle = processStats(controller.pid);
  const rss = sampleProcess(controller.pid);

  // Readiness, and when each probe was acted on, through an informer of our own (one list and a
  // watch, not a poll).
  const ready = new Set<string>();
  const readyAt = new Map<string, number>();
  const revokedAt = new Map<string, number>();
  const key = (p: TokenPolicy) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
  const watcher = createInformer<TokenPolicy>({
    kubeConfig: kc,
    path: `/apis/${GROUP}/${VERSION}/${PLURAL.tokenPolicy}`,
    list: (o) =>
      custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL.tokenPolicy,
        ...o,
      }) as Promise<KubernetesListObject<TokenPolicy>>,
    onChange: (p) => {
      const k = key(p);
      if (readyTrue(p)) {
        ready.add(k);
        if (!readyAt.has(k)) readyAt.set(k, Date.now());
      } else ready.delete(k);
      if (!revokedAt.has(k) && p.status?.versions?.some((v) => v.version === 1 && v.state === 'revoked'))
        revokedAt.set(k, Date.now());
    },
    onDelete: (p) => ready.delete(key(p)),
  });
  watcher.start();
  await watcher.waitForSync(60_000);

  const create = (namespace: string, name: string) => createOpaquePolicy(custom, ISSUER, namespace, name);

  // Probes: a policy created, and a revoke=current annotated on a Ready policy, while the N are
  // being issued ("during") and once they all exist ("after"); each timed from its request to
  // Ready (a new policy) or to its version 1 shown revoked (a revocation).
  const probes = {
    createDuring: [] as number[],
    createDuringBusy: [] as number[],
    revokeDuring: [] as number[],
    createAfter: [] as number[],
    revokeAfter: [] as number[],
  };
  const probeNs = `${SYSTEM_NAMESPACE}-probe`;
  await core.createNamespace({ body: { metadata: { name: probeNs } } });
  let probeSeq = 0;
  const waitFor = async (
    map: Map<string, number>,
    k: string,
    timeoutMs: number,
  ): Promise<number | undefined> => {
    const deadline = Date.now() + timeoutMs;
    while (!map.has(k) && Date.now() < deadline) await sleep(20);
    return map.get(k);
  };
  const probeCreate = async (namespace: string, into: number[]) => {
    const name = `probe-${probeSeq++}`;
    const t0 = Date.now();
    await create(namespace, name);
    const at = await waitFor(readyAt, `${namespace}/${name}`, 120_000);
    if (at !== undefined) into.push(at - t0);
  };
  const probeRevoke = async (namespace: string, name: string, into: number[]) => {
    const t0 = Date.now();
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL.tokenPolicy,
        name,
        body: { metadata: { annotations: { 'tokensmith.dev/revoke': 'current' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const at = await waitFor(revokedAt, `${namespace}/${name}`, 120_000);
    if (at !== undefined) into.push(at - t0);
  };

  const before = await kubeRequestCounts(kc);
  const vaultBefore = await vaultRequestCounts(metricsPort);
  const terminatedBefore = await terminatedWatchers(kc);
  const width = String(N - 1).length;
  const work = Array.from({ length: N }, (_, i) => ({
    namespace: namespaces[i % namespaces.length] ?? '',
    name: `p-${String(i).padStart(width, '0')}`,
  }));
  const startedAt = Date.now();
  let createdAt = 0;
  const creating = pool(work, options.createConcurrency, async ({ namespace, name }) => {
    await create(namespace, name);
  }).then(() => {
    createdAt = Date.now();
    note(`created ${N} policies in ${secs(createdAt - startedAt)}; waiting for all Ready`);
  });
  // Probes while the N are issued: one of each kind every 2 s (a revocation needs a Ready policy).
  const probing = (async () => {
    const revoked = new Set<string>();
    await sleep(1000);
    while (ready.size < N && Date.now() - startedAt < options.timeoutMs) {
      const target = [...ready].find((k) => k.startsWith('scale-') && !revoked.has(k));
      await Promise.all([
        probeCreate(probeNs, probes.createDuring),
        probeCreate(namespaces[0] ?? '', probes.createDuringBusy),
        ...(target
          ? [
              (() => {
                revoked.add(target);
                const [ns, name] = target.split('/');
                return probeRevoke(ns ?? '', name ?? '', probes.revokeDuring);
              })(),
            ]
          : []),
      ]);
      await sleep(2000);
    }
  })();
  await creating;
  let lastReport = 0;
  const bulkReady = () => [...ready].filter((k) => !k.includes('/probe-')).length;
  while (bulkReady() < N) {
    if (Date.now() - startedAt > options.timeoutMs) break;
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      note(`${bulkReady()} of ${N} Ready after ${secs(Date.now() - startedAt, 0)}`);
    }
    await sleep(250);
  }
  const readyAtAll = Date.now();
  const readyCount = bulkReady();
  const cpuAtReady = processStats(controller.pid);
  const after = await kubeRequestCounts(kc);
  const vaultAfter = await vaultRequestCounts(metricsPort);
  const terminatedAfter = await terminatedWatchers(kc);
  await probing;

  // Probes once the N exist: 20 of each, one at a time.
  for (let i = 0; i < 20; i++) {
    await probeCreate(namespaces[i % namespaces.length] ?? '', probes.createAfter);
    const target = work[(i * 7919) % N];
    if (target && !revokedAt.has(`${target.namespace}/${target.name}`))
      await probeRevoke(target.namespace, target.name, probes.revokeAfter);
  }

  note('settling for 30 s');
  await sleep(30_000);
  const settled = processStats(controller.pid);
  const peak = rss.peak();
  rss.stop();
  const memory = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    .then((r) => r.text())
    .then((text) =>
      ['heap_size_total', 'heap_size_used', 'external_memory']
        .map((m) => `tokensmith_nodejs_${m}_bytes`)
        .map(
          (name) =>
            `${name.replace(/^tokensmith_nodejs_|_bytes$/g, '')} ${mb(metricSamples(text, name)[0]?.value ?? NaN)}`,
        )
        .join(', '),
    )
    .catch(() => 'not available');
  note(`measuring idle CPU for ${secs(options.idleMs, 0)}`);
  const idleFrom = processStats(controller.pid);
  await sleep(options.idleMs);
  const idleTo = processStats(controller.pid);
  if (options.profileDir) {
    process.kill(controller.pid, 'SIGUSR2');
    note(`heap snapshot and CPU profile (at exit) in ${options.profileDir}`);
    await sleep(15_000);
  }

  print('');
  print(
    `creates: ${N} in ${secs(createdAt - startedAt)} (${(N / ((createdAt - startedAt) / 1000)).toFixed(0)}/s)`,
  );
  print(
    readyCount === N
      ? `all ${N} Ready ${secs(readyAtAll - startedAt)} after the first create (${(N / ((readyAtAll - startedAt) / 1000)).toFixed(1)} policies/s)`
      : `only ${readyCount} of ${N} Ready after ${secs(readyAtAll - startedAt)}: gave up`,
  );
  if (idle && cpuAtReady && settled) {
    const cpuMs = cpuAtReady.cpuMs - idle.cpuMs;
    print(
      `controller CPU: ${secs(cpuMs)} for ${readyCount} policies (${((cpuMs / 1000 / Math.max(1, readyCount)) * 1000).toFixed(1)} s per 1,000)`,
    );
    print(
      `controller RSS: idle ${mb(idle.rssBytes)}, peak ${mb(peak)}, settled ${mb(settled.rssBytes)} (settled: ${memory})`,
    );
  }
  if (idleFrom && idleTo)
    print(
      `controller idle CPU over ${secs(options.idleMs, 0)} with the ${N} in place: ${(((idleTo.cpuMs - idleFrom.cpuMs) / options.idleMs) * 100).toFixed(2)} % of a core`,
    );
  print(
    `kube-apiserver requests (all clients but the creates): ${perPolicy(before, after, N, 'POST tokenpolicies')}`,
  );
  print(`Vault requests (the controller's): ${perPolicy(vaultBefore, vaultAfter, N)}`);
  print(
    latencyLine('new policy → Ready while the N are issued (a namespace of its own)', probes.createDuring),
  );
  print(
    latencyLine('new policy → Ready while the N are issued (a namespace of the N)', probes.createDuringBusy),
  );
  print(latencyLine('revoke=current → revoked while the N are issued', probes.revokeDuring));
  print(latencyLine('new policy → Ready with the N in place', probes.createAfter));
  print(latencyLine('revoke=current → revoked with the N in place', probes.revokeAfter));
  print(
    `terminated watchers (apiserver_terminated_watchers_total): before ${terminatedBefore}; after ${terminatedAfter}`,
  );
  const closedEarly = logEntries(controller).filter(
    (e) =>
      typeof e.msg === 'string' && e.msg.startsWith('the API server closed the watch before its timeout'),
  ).length;
  print(
    `controller: watches the API server closed early ${closedEarly}; warnings: ${warningSummary(controller)}`,
  );
  await watcher.stop();

  if (options.restart) {
    await controller.stop(15_000);
    running.controller = undefined;
    const restartedAt = Date.now();
    const again = spawnController(conn, controllerArgs, {}, launch);
    running.controller = again;
    const count = await waitForSynced(again, 120_000);
    const stats = processStats(again.pid);
    print(
      `restart: "caches synced" with policies ${count} of ${N + probeSeq} in ${secs(Date.now() - restartedAt)}` +
        (stats ? `, RSS ${mb(stats.rssBytes)}` : ''),
    );
  }
}

let exiting = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    exiting = true;
    note(`${signal}: stopping`);
    void shutdown().finally(() => process.exit(130));
  });
}

main()
  .then(shutdown, async (err: unknown) => {
    if (!exiting)
      process.stderr.write(
        `[scale] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    await shutdown();
    process.exitCode = 1;
  })
  .catch(() => undefined);
