/**
 * `npm run bench:wave`: a rotation wave. N opaque policies share one cron schedule (with seconds,
 * computed at run time so it fires once, after initial issuance has finished). The controller runs
 * in this process, with bounded concurrency and a per-policy jitter, against the real test
 * environment (etcd, kube-apiserver, Vault). Printed: how long initial issuance of N took, how long
 * the scheduled wave took and how late each policy rotated (publishedAt − (fire time + its
 * jitter)), whether every policy rotated exactly once, and both durations as ratios against a raw
 * floor measured in the same run: for each of N, one Vault KV write of a record-sized JSON and one
 * server-side apply of a Secret, at the same concurrency, without the controller.
 *
 *   npm run bench:wave -- --policies 1000 --concurrency 8 --jitter 10s
 *
 * Not part of `npm test` (DESIGN.md: figures are printed, never asserted in tests). Everything it
 * starts stops at the end, on an error and on Ctrl-C; the environment's temporary directory goes too.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesListObject,
  type V1Secret,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../src/api/constants.ts';
import type { TokenPolicy, TokenPolicySpec, TokenPolicyStatus } from '../src/api/v1alpha1.generated.ts';
import type { Config } from '../src/config.ts';
import { parseDuration } from '../src/core/duration.ts';
import type { PolicyTokenRecord } from '../src/core/records.ts';
import { scheduleJitterMs } from '../src/core/schedule.ts';
import { Applier } from '../src/kube/apply.ts';
import { withoutUsage } from '../src/kube/policyWriter.ts';
import { PooledKubeConfig } from '../src/kube/pooledKubeConfig.ts';
import { createLogger } from '../src/log.ts';
import { startOperator, type Operator, type OperatorOptions } from '../src/operator.ts';
import { systemClock } from '../src/util/clock.ts';
import { createRequestLimiter } from '../src/util/rateLimiter.ts';
import { VaultClient, type VaultRequest } from '../src/vault/client.ts';
import { KvV2 } from '../src/vault/kv.ts';
import { VaultTokenStore } from '../src/vault/tokenStore.ts';
import type { TestEnvironment } from '../test/env/environment.ts';
import {
  createOpaquePolicy,
  createReadyClusterIssuer,
  kubeRequestCounts,
  percentile,
  pool,
  positiveFlag,
  readyTrue,
  secs,
  sleep,
  startBenchEnvironment,
} from './support.ts';

const NAMESPACE = 'wave';
const FLOOR_NAMESPACE = 'wave-floor';
const ISSUER = 'wave';
const PATH_PREFIX = 'tokensmith-bench';
const FLOOR_PREFIX = 'tokensmith-bench-floor';
const TRANSIT_MOUNT = 'transit';
const KV_MOUNT = 'secret';
/** After the last policy reached version 2, watch this long for a second rotation. */
const SETTLE_MS = 10_000;
const POLL_MS = 2_000;

const note = (line: string) => process.stderr.write(`[wave] ${line}\n`);
const print = (line: string) => process.stdout.write(`${line}\n`);

interface Options {
  policies: number;
  concurrency: number;
  jitterMs: number;
  leadMs: number | undefined;
  kube: { qps: number; burst: number };
  vault: { qps: number; burst: number };
  logLevel: string;
}

const HELP = `usage: npm run bench:wave -- [flags]

  --policies N        policies in the wave (default 1000)
  --concurrency N     policies reconciled at once, and the floor's workers (default 8)
  --jitter D          largest per-policy delay after the fire time, e.g. 10s, 0 (default 10s)
  --lead D            time from now to the fire time, rounded up to a whole minute
                      (default: N/8 s + 30 s, enough for initial issuance on 2 cores)
  --kube-qps Q        controller's requests/s toward kube-apiserver (default 200; burst 2×)
  --vault-qps Q       controller's requests/s toward Vault (default 200; burst 2×)
  --log-level L       controller log level kept for the summary (default warn)
`;

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      policies: { type: 'string' },
      concurrency: { type: 'string' },
      jitter: { type: 'string' },
      lead: { type: 'string' },
      'kube-qps': { type: 'string' },
      'vault-qps': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const positive = (flag: string, value: string | undefined, fallback: number) =>
    positiveFlag(flag, value, fallback);
  const kubeQps = positive('kube-qps', values['kube-qps'], 200);
  const vaultQps = positive('vault-qps', values['vault-qps'], 200);
  return {
    policies: Math.floor(positive('policies', values.policies, 1000)),
    concurrency: Math.floor(positive('concurrency', values.concurrency, 8)),
    jitterMs: parseDuration(values.jitter ?? '10s'),
    leadMs: values.lead === undefined ? undefined : parseDuration(values.lead),
    kube: { qps: kubeQps, burst: Math.max(1, Math.ceil(kubeQps * 2)) },
    vault: { qps: vaultQps, burst: Math.max(1, Math.ceil(vaultQps * 2)) },
    logLevel: values['log-level'] ?? 'warn',
  };
}

/** The controller's log, kept in memory: warnings and errors are summarised at the end. */
function logCollector() {
  const byMessage = new Map<string, number>();
  let total = 0;
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          const entry = JSON.parse(line) as { level?: string; msg?: string; err?: { reason?: string } };
          if (entry.level !== 'warn' && entry.level !== 'error' && entry.level !== 'fatal') continue;
          total += 1;
          const key = `${entry.level}: ${entry.msg ?? ''}${entry.err?.reason ? ` (${entry.err.reason})` : ''}`;
          byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
        } catch {
          // not JSON: ignore
        }
      }
      callback();
    },
  });
  return { destination, summary: () => ({ total, byMessage }) };
}

/** What was counted between two snapshots, most frequent first, with the count per policy. */
function countsBetween(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  n: number,
  include: (key: string) => boolean = () => true,
): string {
  const rows = [...after.entries()]
    .filter(([key]) => include(key))
    .map(([key, count]): [string, number] => [key, count - (before.get(key) ?? 0)])
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1]);
  return rows.map(([k, count]) => `${k} ${count} (${(count / n).toFixed(2)}/policy)`).join(', ') || 'none';
}
const isWrite = (key: string) => /^(POST|PUT|PATCH|APPLY|DELETE) /.test(key);
/** Writes the controller makes (not the API server's own leases and endpoints). */
const isControllerWrite = (key: string) => isWrite(key) && /^\S+ (secrets|tokenpolicies|events)\b/.test(key);

function sumBetween(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  include: (key: string) => boolean = () => true,
): number {
  let sum = 0;
  for (const [key, count] of after) if (include(key)) sum += count - (before.get(key) ?? 0);
  return sum;
}

/**
 * Every Vault request made in this process (the controller's and the floor's), counted by method
 * and kind of path. A counter around VaultClient.request: the controller builds its clients
 * itself, and Vault's own metrics are not cumulative in dev mode.
 */
const vaultCounts = new Map<string, number>();
function countVaultRequests(): void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with its `this` below
  const send = VaultClient.prototype.request;
  const kind = (path: string) => {
    if (/\/data\/.*\/policies\//.test(path)) return 'KV record';
    if (/\/(data|metadata)\/.*\/index\//.test(path)) return 'KV index';
    return path.split('/').slice(0, 2).join('/');
  };
  VaultClient.prototype.request = function (this: VaultClient, req: VaultRequest): Promise<unknown> {
    const key = `${req.method} ${kind(req.path)}`;
    vaultCounts.set(key, (vaultCounts.get(key) ?? 0) + 1);
    return send.call(this, req);
  };
}

/** The controller's executed lifecycle steps (afterStep), by kind and reason. */
const stepCounts = new Map<string, number>();
function countStep(step: Parameters<NonNullable<OperatorOptions['afterStep']>>[0]): void {
  const key = 'reason' in step ? `${step.kind} (${step.reason})` : step.kind;
  stepCounts.set(key, (stepCounts.get(key) ?? 0) + 1);
}

interface Snapshot {
  kube: Map<string, number> | undefined;
  vault: Map<string, number>;
  steps: Map<string, number>;
}
async function snapshot(kc: KubeConfig): Promise<Snapshot> {
  return {
    kube: await kubeRequestCounts(kc).catch(() => undefined),
    vault: new Map(vaultCounts),
    steps: new Map(stepCounts),
  };
}
function printPhase(what: string, from: Snapshot, to: Snapshot, n: number): void {
  print(`${what}:`);
  print(`  controller steps: ${countsBetween(from.steps, to.steps, n)}`);
  print(`  Vault requests: ${countsBetween(from.vault, to.vault, n)}`);
  if (from.kube && to.kube)
    print(`  kube-apiserver writes: ${countsBetween(from.kube, to.kube, n, isWrite)}`);
}

/** The schedule's fire time: now + lead, rounded up to a whole minute, as a 6-field UTC expression. */
function fireTimeAfter(leadMs: number): { fire: Date; expression: string } {
  const fire = new Date(Math.ceil((Date.now() + leadMs) / 60_000) * 60_000);
  return { fire, expression: `0 ${fire.getUTCMinutes()} ${fire.getUTCHours()} * * *` };
}

/** Replaces every token and hash in a record with random values of the same length. */
function scrubbed(record: PolicyTokenRecord, name: string): PolicyTokenRecord {
  const same = (value: string | undefined) =>
    value === undefined ? undefined : randomBytes(value.length).toString('base64url').slice(0, value.length);
  return {
    ...record,
    policy: { ...record.policy, name, uid: randomUUID() },
    versions: record.versions.map((v) => ({
      ...v,
      token: same(v.token) ?? '',
      tokenHash: randomBytes(32).toString('hex'),
      ...(v.refreshToken === undefined ? {} : { refreshToken: same(v.refreshToken) }),
    })),
  };
}

/** A record and a Secret of the size the controller writes, to size the floor's requests. */
interface FloorSample {
  record: PolicyTokenRecord;
  secret: V1Secret;
  /** A policy's status as the controller writes it (Ready, versions): the floor applies one like it. */
  status: TokenPolicyStatus;
}

/** A record with a second version, like one after a rotation (for a floor measured before the wave). */
function waveShaped(record: PolicyTokenRecord): PolicyTokenRecord {
  const first = record.versions[0];
  if (record.versions.length > 1 || !first) return record;
  return {
    ...record,
    currentVersion: 2,
    lastVersion: 2,
    versions: [
      { ...first, state: 'retiring', retiringSince: first.issuedAt },
      { ...first, version: 2, mintReason: 'Scheduled' },
    ],
    handled: { schedule: first.issuedAt },
  };
}

/**
 * The raw floor, what a rotation must do: for each name, one Vault KV write of a record-sized
 * JSON (check-and-set, like the controller's), one server-side apply of a Secret-sized Secret and
 * one server-side apply of a policy status like the controller's, `concurrency` names at once,
 * through the same thin clients the controller uses (VaultClient, Applier) but with no controller
 * and no client-side rate limit. The floor's TokenPolicies are created first, untimed, in a
 * namespace the controller does not watch. Returns the milliseconds the timed part took.
 */
async function measureFloor(options: {
  kc: KubeConfig;
  vault: VaultClient;
  sample: FloorSample;
  names: readonly string[];
  pass: string;
  concurrency: number;
}): Promise<number> {
  const { sample, pass } = options;
  const kv = new KvV2({ client: options.vault, mount: KV_MOUNT });
  // Pooled connections, as the controller's own clients (startOperator pools them too).
  const kc = PooledKubeConfig.from(options.kc);
  const applier = new Applier(
    kc,
    createRequestLimiter({ qps: Infinity, burst: 1, maxConcurrent: 1_000_000 }),
  );
  const data = Object.fromEntries(
    Object.entries(sample.secret.data ?? {}).map(([k, v]): [string, string] => [
      k,
      randomBytes(v.length).toString('base64').slice(0, v.length),
    ]),
  );
  const work = options.names
    .map((n) => `${pass}-${n}`)
    .map((name) => ({ name, record: scrubbed(sample.record, name) }));
  const secret = (name: string): V1Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `${name}-token`,
      namespace: FLOOR_NAMESPACE,
      // Not app.kubernetes.io/managed-by=tokensmith: the controller's informer must not see these.
      labels: { 'app.kubernetes.io/managed-by': 'tokensmith-bench-floor', 'tokensmith.dev/policy': name },
      ...(sample.secret.metadata?.annotations ? { annotations: sample.secret.metadata.annotations } : {}),
    },
    type: 'Opaque',
    data,
  });
  const custom = kc.makeApiClient(CustomObjectsApi);
  await pool(work, 50, async ({ name }) => {
    await createOpaquePolicy(custom, ISSUER, FLOOR_NAMESPACE, name);
  });
  const started = performance.now();
  await pool(work, options.concurrency, async ({ name, record }) => {
    await kv.write(`${FLOOR_PREFIX}/policies/${FLOOR_NAMESPACE}/${name}`, record, { cas: 0 });
    await applier.apply(secret(name));
    await applier.applyStatus(
      { group: GROUP, version: VERSION, plural: PLURAL.tokenPolicy, namespace: FLOOR_NAMESPACE, name },
      {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'TokenPolicy',
        metadata: { name, namespace: FLOOR_NAMESPACE },
        status: sample.status,
      },
    );
  });
  const ms = performance.now() - started;
  await kc.close();
  return ms;
}

interface Cleanup {
  operator?: Operator;
  env?: TestEnvironment;
}
const running: Cleanup = {};
let exiting = false;
/** Set by the signal handler; a function, so TypeScript does not narrow it across awaits. */
const isExiting = () => exiting;

/** Stops the controller (bounded wait) and the environment; idempotent. */
async function shutdown(): Promise<void> {
  const { operator, env } = running;
  running.operator = undefined;
  running.env = undefined;
  if (operator) await Promise.race([operator.stop(), sleep(10_000)]).catch(() => undefined);
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
  if (isExiting()) return;
  const conn = env.connection;
  const kc = new KubeConfig();
  kc.loadFromFile(conn.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const caPem = readFileSync(conn.vaultCaCertPath, 'utf8');
  // Requests of the benchmark itself (setup, reading results, the floor): no limiter.
  const vault = new VaultClient({
    address: conn.vaultAddress,
    caPem,
    auth: { method: 'token', token: conn.vaultToken },
  });
  await vault.write(`sys/mounts/${TRANSIT_MOUNT}`, { type: 'transit' }, 'enable transit');
  for (const name of [NAMESPACE, FLOOR_NAMESPACE])
    await core.createNamespace({ body: { metadata: { name } } });

  const config: Config = {
    kubeconfig: conn.kubeconfigPath,
    namespaces: [NAMESPACE],
    installScope: 'cluster',
    clusterResourceNamespace: NAMESPACE,
    clusterIssuerSelector: undefined,
    vault: {
      address: conn.vaultAddress,
      caPem,
      tlsServerName: undefined,
      auth: { method: 'token', token: conn.vaultToken },
      kvMount: KV_MOUNT,
      pathPrefix: PATH_PREFIX,
      transitMount: TRANSIT_MOUNT,
      qps: options.vault.qps,
      burst: options.vault.burst,
      timeoutMs: 10_000,
    },
    kube: { ...options.kube },
    concurrency: options.concurrency,
    scheduleJitterMs: options.jitterMs,
    minRotationIntervalMs: 60_000,
    resyncPeriodMs: 4 * 3600_000,
    relistIntervalMs: 5 * 60_000,
    listPageSize: 500,
    workloadRestartQps: 50,
    logLevel: options.logLevel,
    leaderElection: { enabled: false, namespace: NAMESPACE, name: 'tokensmith', identity: 'bench-wave' },
    verify: undefined,
    metrics: undefined,
  };
  const leadMs = options.leadMs ?? Math.ceil(N / 8) * 1000 + 30_000;
  print(
    `settings: policies ${N} (opaque, ttl 24h, overlap 10m), concurrency ${config.concurrency}, ` +
      `schedule jitter ${secs(config.scheduleJitterMs)}, kube qps ${config.kube.qps}/burst ${config.kube.burst}, ` +
      `vault qps ${config.vault.qps}/burst ${config.vault.burst}, ${cpus().length} CPUs`,
  );

  const logs = logCollector();
  countVaultRequests();
  const operator = startOperator({
    afterStep: countStep,
    config,
    kubeConfig: kc,
    log: createLogger({ level: config.logLevel, destination: logs.destination }),
    clock: systemClock,
  });
  running.operator = operator;
  await operator.ready;
  if (isExiting()) return;

  await createReadyClusterIssuer(custom, ISSUER, TRANSIT_MOUNT);

  // ---- initial issuance -------------------------------------------------------------------------
  const { fire, expression } = fireTimeAfter(leadMs);
  print(`schedule: "${expression}" (UTC), fires at ${fire.toISOString()}`);
  const width = String(N - 1).length;
  const names = Array.from({ length: N }, (_, i) => `p-${String(i).padStart(width, '0')}`);
  const spec = (name: string): TokenPolicySpec => ({
    issuerRef: { name: ISSUER },
    token: { type: 'opaque', ttl: '24h' },
    rotation: { schedule: expression, timeZone: 'UTC', overlap: '10m' },
    secret: { name: `${name}-token` },
  });
  const listPolicies = async () =>
    (
      (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NAMESPACE,
        plural: PLURAL.tokenPolicy,
      })) as KubernetesListObject<TokenPolicy>
    ).items;

  const atCreate = await snapshot(kc);
  const createStart = Date.now();
  await pool(names, 32, async (name) => {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NAMESPACE,
      plural: PLURAL.tokenPolicy,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'TokenPolicy', metadata: { name }, spec: spec(name) },
    });
  });
  const createdAt = Date.now();
  note(`created ${N} policies in ${secs(createdAt - createStart)}; waiting for all Ready`);
  let readySeenAt: number;
  for (;;) {
    if (isExiting()) return;
    const ready = (await listPolicies()).filter(readyTrue).length;
    if (ready === N) {
      readySeenAt = Date.now();
      break;
    }
    if (Date.now() > fire.getTime()) {
      throw new Error(
        `only ${ready} of ${N} policies Ready at the fire time: initial issuance overlaps the wave; rerun with a longer --lead`,
      );
    }
    await sleep(POLL_MS);
  }
  note(`all ${N} Ready ${secs(readySeenAt - createStart)} after the first create`);

  const atReady = await snapshot(kc);

  // ---- the raw floor, before the wave (the controller has nothing to do until the fire time) -----
  const store = new VaultTokenStore({
    client: vault,
    mount: KV_MOUNT,
    pathPrefix: `${PATH_PREFIX}/cluster/${ISSUER}`,
  });
  const sampleOf = async (): Promise<FloorSample> => {
    const name = names[0] ?? '';
    const record = (await store.read({ namespace: NAMESPACE, name }))?.value;
    if (!record) throw new Error(`no Vault record for ${name} to size the floor with`);
    const secret = await core.readNamespacedSecret({ namespace: NAMESPACE, name: `${name}-token` });
    const policy = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NAMESPACE,
      plural: PLURAL.tokenPolicy,
      name,
    })) as TokenPolicy;
    return { record: waveShaped(record), secret, status: withoutUsage(policy.status) ?? {} };
  };
  const floors: { when: string; ms: number; bytes: number }[] = [];
  const floorRoom = Math.max(30_000, N * 30);
  if (fire.getTime() - Date.now() > floorRoom) {
    const sample = await sampleOf();
    const bytes = JSON.stringify(sample.record).length;
    note(
      `floor before the wave: ${N} × (KV write of ${bytes} bytes + Secret apply + status apply), ${options.concurrency} at once`,
    );
    const ms = await measureFloor({ kc, vault, sample, names, pass: 'a', concurrency: options.concurrency });
    floors.push({ when: 'before the wave', ms, bytes });
  } else note(`less than ${secs(floorRoom, 0)} to the fire time: no floor before the wave`);
  if (isExiting()) return;

  // ---- the wave -----------------------------------------------------------------------------------
  const atWave = await snapshot(kc);
  const waveEnd = fire.getTime() + options.jitterMs;
  note(
    `waiting ${secs(fire.getTime() - Date.now())} for the fire time, then up to ${secs(options.jitterMs)} of jitter`,
  );
  await sleep(waveEnd - Date.now());
  const waveDeadline = waveEnd + Math.max(120_000, N * 500);
  let allRotatedAt = 0;
  for (;;) {
    if (isExiting()) return;
    const items = await listPolicies();
    const rotated = items.filter((p) => (p.status?.currentVersion ?? 0) >= 2).length;
    if (rotated === N) {
      allRotatedAt = Date.now();
      break;
    }
    if (Date.now() > waveDeadline) {
      note(
        `only ${rotated} of ${N} policies reached version 2 by ${secs(Date.now() - fire.getTime())} after the fire time`,
      );
      break;
    }
    await sleep(POLL_MS);
  }
  if (allRotatedAt)
    note(`all at version 2 (seen ${secs(allRotatedAt - fire.getTime())} after the fire time); settling`);
  await sleep(SETTLE_MS);
  const atEnd = await snapshot(kc);

  // ---- results from status and the Vault records ------------------------------------------------
  const items = await listPolicies();
  const records = new Map<string, PolicyTokenRecord>();
  await pool(items, 16, async (p) => {
    const name = p.metadata?.name ?? '';
    const stored = await store.read({ namespace: NAMESPACE, name });
    if (stored) records.set(name, stored.value);
  });
  await operator.stop();
  running.operator = undefined;

  const problems = new Map<string, string[]>();
  const failed = new Set<string>();
  const problem = (kind: string, name: string, detail?: string) => {
    failed.add(name);
    problems.set(kind, [...(problems.get(kind) ?? []), detail === undefined ? name : `${name} (${detail})`]);
  };
  const firstPublished: number[] = [];
  const secondPublished: number[] = [];
  const lateness: number[] = [];
  const dueTimes: number[] = [];
  for (const p of items) {
    const name = p.metadata?.name ?? '';
    const uid = p.metadata?.uid ?? '';
    const record = records.get(name);
    if (!record) {
      problem('no Vault record', name);
      continue;
    }
    const due = fire.getTime() + scheduleJitterMs(uid, options.jitterMs);
    dueTimes.push(due);
    const v1 = record.versions.find((v) => v.version === 1);
    const v2 = record.versions.find((v) => v.version === 2);
    const v1At = Date.parse(v1?.publishedAt ?? '');
    if (Number.isFinite(v1At)) {
      firstPublished.push(v1At);
      if (v1At >= due) problem('initial version published after its due time', name);
    } else problem('version 1 never published', name);
    if (record.lastVersion !== 2) problem('lastVersion ≠ 2', name, String(record.lastVersion));
    if (p.status?.currentVersion !== 2)
      problem('status.currentVersion ≠ 2', name, String(p.status?.currentVersion));
    if (p.status?.versions?.find((v) => v.version === 2)?.mintReason !== 'Scheduled') {
      problem('status: version 2 not mintReason Scheduled', name);
    }
    if (record.handled?.schedule !== fire.toISOString()) {
      problem('handled.schedule ≠ fire time', name, String(record.handled?.schedule));
    }
    const v2At = Date.parse(v2?.publishedAt ?? '');
    if (!Number.isFinite(v2At)) {
      problem('version 2 never published', name);
      continue;
    }
    secondPublished.push(v2At);
    lateness.push(v2At - due);
    if (v2At < due) problem('rotated before its due time', name);
  }
  const range = (xs: number[]) => (xs.length === 0 ? Number.NaN : Math.max(...xs) - Math.min(...xs));
  const issuanceMs = firstPublished.length === 0 ? Number.NaN : Math.max(...firstPublished) - createStart;
  const waveMs = range(secondPublished);
  const spreadMs = range(dueTimes);
  const late = [...lateness].sort((a, b) => a - b);

  // ---- the raw floor, after the wave (the controller is stopped) ---------------------------------
  {
    const sample = await sampleOf();
    const bytes = JSON.stringify(sample.record).length;
    note(
      `floor after the wave: ${N} × (KV write of ${bytes} bytes + Secret apply + status apply), ${options.concurrency} at once`,
    );
    const ms = await measureFloor({ kc, vault, sample, names, pass: 'b', concurrency: options.concurrency });
    floors.push({ when: 'after the wave', ms, bytes });
  }
  const floorMs = floors.reduce((sum, f) => sum + f.ms, 0) / floors.length;
  vault.close();

  // ---- report -----------------------------------------------------------------------------------
  print('');
  print(
    `initial issuance: ${N} policies Ready in ${secs(issuanceMs)} from the first create (last version 1 published; ` +
      `creates took ${secs(createdAt - createStart)}), ${(N / (issuanceMs / 1000)).toFixed(1)} policies/s`,
  );
  print(
    `wave: ${secondPublished.length} of ${N} rotated; first to last publishedAt of version 2: ${secs(waveMs)} ` +
      `(the jitter alone spreads due times over ${secs(spreadMs)}), ${(secondPublished.length / (waveMs / 1000)).toFixed(1)} rotations/s`,
  );
  const at = (p: number) => (late.length ? secs(percentile(late, p), 2) : 'n/a');
  print(
    `lateness (publishedAt − (fire time + that policy's jitter)): p50 ${at(50)}, p99 ${at(99)}, ` +
      `max ${at(100)}, min ${at(0)}`,
  );
  const once = items.length - failed.size;
  print(
    `rotated exactly once (lastVersion 2, Scheduled, handled.schedule = fire time): ${once} of ${N}` +
      (problems.size === 0 ? '' : ' — PROBLEMS below'),
  );
  for (const f of floors) {
    print(
      `floor ${f.when}: ${N} × (KV write of ${f.bytes} bytes + Secret apply + status apply), concurrency ${options.concurrency}: ` +
        `${secs(f.ms)} (${((3 * N) / (f.ms / 1000)).toFixed(0)} requests/s)`,
    );
  }
  print(
    `ratios against the floor (${floors.length > 1 ? 'mean of both' : 'the one measured'}, ${secs(floorMs)}): wave ${(waveMs / floorMs).toFixed(2)}, initial issuance ${(issuanceMs / floorMs).toFixed(2)}`,
  );
  if (atWave.kube && atEnd.kube && secondPublished.length > 0) {
    const vaultRequests = sumBetween(atWave.vault, atEnd.vault);
    const kubeWrites = sumBetween(atWave.kube, atEnd.kube, isControllerWrite);
    const rotatingMs = Math.max(...secondPublished) - fire.getTime();
    const rotations = secondPublished.length;
    print(
      `requests per rotation: ${(vaultRequests / rotations).toFixed(1)} to Vault + ${(kubeWrites / rotations).toFixed(1)} ` +
        `writes to kube-apiserver = ${((vaultRequests + kubeWrites) / rotations).toFixed(1)} (the floor: 3), ` +
        `${((vaultRequests + kubeWrites) / (rotatingMs / 1000)).toFixed(0)}/s from the fire time to the last rotation`,
    );
  }
  printPhase('initial issuance (from the first create until all were Ready)', atCreate, atReady, N);
  printPhase(`the wave (until ${secs(SETTLE_MS, 0)} after all were at version 2)`, atWave, atEnd, N);
  for (const [kind, list] of problems) {
    print(
      `PROBLEM ${kind}: ${list.length} — ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}`,
    );
  }
  const { total, byMessage } = logs.summary();
  print(`controller log: ${total} warning/error lines${total ? ':' : ''}`);
  for (const [message, n] of [...byMessage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10))
    print(`  ${n} × ${message}`);
  process.exitCode = problems.size === 0 ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    exiting = true;
    note(`${signal}: stopping…`);
    void shutdown().finally(() => {
      note('stopped; nothing left running');
      process.exit(130);
    });
  });
}

main()
  .catch((err: unknown) => {
    note(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  })
  .finally(async () => {
    if (isExiting()) return; // the signal handler finishes
    await shutdown();
    process.exit();
  });
