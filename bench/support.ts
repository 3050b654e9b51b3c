/**
 * Helpers the benchmarks share: a bounded pool, percentiles, the kube-apiserver's own metrics,
 * and starting the test environment (etcd, kube-apiserver, Vault) that a benchmark runs against.
 */
import { request, type RequestOptions } from 'node:https';
import type { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../src/api/constants.ts';
import type { ClusterTokenIssuer, TokenPolicy } from '../src/api/v1alpha1.generated.ts';
import { ensureServerBinaries } from '../test/env/binaries.ts';
import { TestEnvironment } from '../test/env/environment.ts';
import { settingsFromProcess } from '../test/env/settings.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
export const secs = (ms: number, digits = 1) => `${(ms / 1000).toFixed(digits)} s`;

/** A positive number flag (`whole`: an integer too), or `fallback` when it is not given. */
export function positiveFlag(
  flag: string,
  value: string | undefined,
  fallback: number,
  whole = false,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (whole && !Number.isInteger(n))) {
    throw new Error(`--${flag} must be a positive ${whole ? 'whole ' : ''}number, got "${value}"`);
  }
  return n;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

/** The kube-apiserver's /metrics text. */
export async function kubeMetricsText(kc: KubeConfig): Promise<string> {
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  const options: RequestOptions = {
    hostname: server.hostname,
    port: server.port,
    path: '/metrics',
    method: 'GET',
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise<string>((resolve, reject) => {
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 200) resolve(Buffer.concat(chunks).toString('utf8'));
        else reject(new Error(`GET /metrics: HTTP ${String(res.statusCode)}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The samples of one metric in a Prometheus text exposition, with their labels. */
export function metricSamples(
  text: string,
  name: string,
): { labels: Record<string, string>; value: number }[] {
  const samples: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']),
    );
    samples.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return samples;
}

/** apiserver_request_total summed by verb and resource[/subresource], from kube-apiserver /metrics. */
export async function kubeRequestCounts(kc: KubeConfig): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { labels, value } of metricSamples(await kubeMetricsText(kc), 'apiserver_request_total')) {
    const resource = `${labels.resource ?? ''}${labels.subresource ? `/${labels.subresource}` : ''}`;
    const key = `${labels.verb ?? ''} ${resource}`;
    counts.set(key, (counts.get(key) ?? 0) + value);
  }
  return counts;
}

/** Builds (or finds cached) the server binaries and starts the test environment. */
export async function startBenchEnvironment(log: (line: string) => void): Promise<TestEnvironment> {
  const settings = settingsFromProcess();
  const binaries = await ensureServerBinaries({
    cacheDir: settings.cacheDir,
    env: settings.childEnv,
    goCommand: settings.goCommand,
    log,
  });
  return TestEnvironment.start({ binaries, env: settings.childEnv, crdDir: settings.crdDir, log });
}

export function readyTrue(p: TokenPolicy | ClusterTokenIssuer): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * Creates a ClusterTokenIssuer signing with transit at `transitMount` (or, given an object, with
 * that spec's vault and signing) and waits until it is Ready.
 */
export async function createReadyClusterIssuer(
  custom: CustomObjectsApi,
  name: string,
  signing: string | { vault?: Record<string, unknown>; signing: Record<string, unknown> },
): Promise<void> {
  await custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL.clusterTokenIssuer,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'ClusterTokenIssuer',
      metadata: { name },
      spec: {
        issuer: `https://tokens.${name}.example`,
        ...(typeof signing === 'string' ? { signing: { transitMount: signing } } : signing),
        namespaces: { selector: {} },
      },
    },
  });
  for (let deadline = Date.now() + 60_000; ; await sleep(200)) {
    const issuer = (await custom.getClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL.clusterTokenIssuer,
      name,
    })) as ClusterTokenIssuer;
    if (readyTrue(issuer)) return;
    if (Date.now() > deadline)
      throw new Error(`issuer not Ready: ${JSON.stringify(issuer.status?.conditions)}`);
  }
}

/**
 * Creates the benchmarks' policy: an opaque token of 24h (or `ttl`, with `rotation`) from
 * `issuer`, in Secret `<name>-token`.
 */
export function createOpaquePolicy(
  custom: CustomObjectsApi,
  issuer: string,
  namespace: string,
  name: string,
  lifetime: { ttl: string; rotation?: Record<string, unknown> } = { ttl: '24h' },
): Promise<unknown> {
  return custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL.tokenPolicy,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'TokenPolicy',
      metadata: { name },
      spec: {
        issuerRef: { name: issuer },
        token: { type: 'opaque', ttl: lifetime.ttl },
        ...(lifetime.rotation ? { rotation: lifetime.rotation } : {}),
        secret: { name: `${name}-token` },
      },
    },
  });
}
