/**
 * The informer against the real kube-apiserver: it sees labelled Secrets come, change, leave the
 * selector and go, never unlabelled ones (also when they existed before it started, and also when
 * the list function forgets the selector); it recovers when its connection is reset, also when
 * the API server is unreachable for a while; its watchdog recovers from a watch gone silent; and
 * stop() leaves no watch open. Breakage is real: a TCP proxy resets or freezes the connections.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesListObject,
  type V1Secret,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  GROUP,
  LABEL,
  MANAGED_BY_VALUE,
  MANAGED_SELECTOR,
  PLURAL,
  VERSION,
} from '../../../src/api/constants.ts';
import type { TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import { createInformer, type InformerOptions, type ResourceInformer } from '../../../src/kube/informer.ts';
import { adminKubeConfig, createNamespace, uniqueName } from '../../support/environment.ts';
import { createPolicy } from '../../support/resources.ts';
import { kubeConfigThrough, startTcpProxy, type TcpProxy } from './tcpProxy.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

const core = () => adminKubeConfig().makeApiClient(CoreV1Api);
let namespace: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  namespace = await createNamespace('informer');
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const managedLabels = { [LABEL.managedBy]: MANAGED_BY_VALUE };

async function createSecret(name: string, managed: boolean, value = 'v1'): Promise<void> {
  await core().createNamespacedSecret({
    namespace,
    body: {
      metadata: { name, ...(managed ? { labels: managedLabels } : {}) },
      stringData: { value },
    },
  });
}

async function patchSecret(name: string, patch: Record<string, unknown>): Promise<void> {
  await core().patchNamespacedSecret({ namespace, name, body: [{ op: 'add', ...patch }] });
}

const deleteSecret = (name: string) => core().deleteNamespacedSecret({ namespace, name });

/** Starts an informer on the Secrets of every namespace, recording what its handlers are told. */
function secretsInformer(overrides: Partial<InformerOptions<V1Secret>> = {}) {
  const changes: V1Secret[] = [];
  const deletes: V1Secret[] = [];
  const warnings: { obj: object; msg: string }[] = [];
  const kubeConfig = overrides.kubeConfig ?? adminKubeConfig();
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const informer: ResourceInformer<V1Secret> = createInformer<V1Secret>({
    kubeConfig,
    path: '/api/v1/secrets',
    labelSelector: MANAGED_SELECTOR,
    list: (options) => api.listSecretForAllNamespaces(options),
    onChange: (obj) => changes.push(obj),
    onDelete: (obj) => deletes.push(obj),
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
    restartBackoff: { baseMs: 200, maxMs: 2000 },
    ...overrides,
  });
  cleanups.push(() => informer.stop());
  informer.start();
  const ours = (list: V1Secret[]) =>
    list.filter((s) => s.metadata?.namespace === namespace).map((s) => s.metadata?.name);
  return {
    informer,
    warnings,
    changed: () => ours(changes),
    deleted: () => ours(deletes),
    cached: () => ours(informer.list(namespace)).sort(),
    changes,
  };
}

const isManaged = (s: V1Secret) => s.metadata?.labels?.[LABEL.managedBy] === MANAGED_BY_VALUE;

async function proxied(): Promise<TcpProxy> {
  const proxy = await startTcpProxy(adminKubeConfig().getCurrentCluster()?.server ?? '');
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('informer on managed Secrets', () => {
  it('sees labelled Secrets come, change, leave the selector and go, and never unlabelled ones', async () => {
    const [before, plainBefore, created, plainCreated, adopted] = [
      'before',
      'plain',
      'new',
      'new-plain',
      'adopted',
    ].map(uniqueName) as [string, string, string, string, string];
    await createSecret(before, true);
    await createSecret(plainBefore, false);

    const h = secretsInformer();
    await h.informer.waitForSync(20_000);
    expect(h.informer.hasSynced()).toBe(true);
    expect(h.cached()).toEqual([before]);
    expect(h.informer.get(`${namespace}/${before}`)).toMatchObject({
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: before, namespace },
    });
    expect(h.informer.get(`${namespace}/${plainBefore}`)).toBeUndefined();

    await createSecret(created, true);
    await createSecret(plainCreated, false);
    await patchSecret(before, { path: '/stringData', value: { value: 'v2' } });
    await patchSecret(plainBefore, { path: '/stringData', value: { value: 'v2' } });
    await patchSecret(plainCreated, { path: '/metadata/labels', value: managedLabels }); // joins the selector
    await expect.poll(() => h.cached(), { timeout: 15_000 }).toEqual([before, created, plainCreated].sort());
    const updated = h.informer.get(`${namespace}/${before}`);
    expect(Buffer.from(updated?.data?.value ?? '', 'base64').toString()).toBe('v2');
    // The API server sent managedFields (the objects were created and patched); the cache drops them.
    expect(h.cached().map((key) => h.informer.get(`${namespace}/${key}`)?.metadata?.managedFields)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);

    await deleteSecret(created);
    await patchSecret(before, { path: '/metadata/labels', value: { other: 'x' } }); // leaves the selector
    await createSecret(adopted, false);
    await deleteSecret(plainBefore);
    await expect.poll(() => h.cached(), { timeout: 15_000 }).toEqual([plainCreated]);
    expect(h.deleted().sort()).toEqual([before, created].sort());
    expect(new Set(h.changed())).toEqual(new Set([before, created, plainCreated]));
    // Across every namespace, onChange and the cache only ever held labelled Secrets (onDelete is
    // given the last state, which for `before` is the one without the label).
    expect(h.changes.every(isManaged)).toBe(true);
    expect(h.informer.list().every(isManaged)).toBe(true);
  });

  it('keeps unlabelled Secrets out even when the list function drops the selector', async () => {
    const [managed, plain] = [uniqueName('managed'), uniqueName('plain')];
    await createSecret(managed, true);
    await createSecret(plain, false);
    const api = core();
    const h = secretsInformer({ list: () => api.listNamespacedSecret({ namespace }) });
    await h.informer.waitForSync(20_000);
    expect(h.cached()).toEqual([managed]);
    expect(h.changed()).toEqual([managed]);
    expect(h.warnings.map((w) => w.msg)).toContain(
      'the list function ignored the label selector; pass it on',
    );
  });
});

describe('informer resilience', () => {
  it('restarts after its connection is reset and the API server is unreachable for a while', async () => {
    const proxy = await proxied();
    const [gone, stays, duringOutage, afterwards] = ['gone', 'stays', 'outage', 'after'].map(uniqueName) as [
      string,
      string,
      string,
      string,
    ];
    await createSecret(gone, true);
    await createSecret(stays, true);
    const h = secretsInformer({ kubeConfig: kubeConfigThrough(adminKubeConfig(), proxy) });
    await h.informer.waitForSync(20_000);
    expect(h.cached()).toEqual([gone, stays].sort());

    proxy.refuse(true);
    proxy.breakAll();
    await deleteSecret(gone);
    await createSecret(duringOutage, true);
    // The informer fails, and its restarts fail too while the proxy refuses.
    await expect.poll(() => h.warnings.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(h.cached()).toEqual([gone, stays].sort());

    proxy.refuse(false);
    await expect.poll(() => h.cached(), { timeout: 15_000 }).toEqual([duringOutage, stays].sort());
    expect(h.deleted()).toEqual([gone]);
    expect(h.informer.restarts).toBeGreaterThanOrEqual(2);

    // The watch of the new run delivers (no relist needed: the watchdog is 5 minutes away).
    const relists = h.informer.relists;
    await createSecret(afterwards, true);
    await expect
      .poll(() => h.cached(), { timeout: 15_000 })
      .toEqual([afterwards, duringOutage, stays].sort());
    expect(h.informer.relists).toBe(relists);

    // Failures are logged with safe fields only.
    expect(h.warnings[0]).toMatchObject({
      msg: 'informer stopped; restarting',
      obj: { informer: '/api/v1/secrets' },
    });
    expect(JSON.stringify(h.warnings)).not.toMatch(/"(body|headers|cause)"/);
  });

  it('recovers from a watch gone silent by relisting on the watchdog', async () => {
    const proxy = await proxied();
    const h = secretsInformer({
      kubeConfig: kubeConfigThrough(adminKubeConfig(), proxy),
      relistIntervalMs: 2000,
    });
    await h.informer.waitForSync(20_000);
    const probe = uniqueName('probe'); // seen without a relist: the watch is connected
    await createSecret(probe, true);
    await expect.poll(() => h.cached(), { timeout: 1_500, interval: 50 }).toEqual([probe]);
    const relists = h.informer.relists;
    proxy.freezeAll(); // the watch connection stays open but delivers nothing
    const whileSilent = uniqueName('silent');
    await createSecret(whileSilent, true);
    // It arrives well before the library's 30 s inactivity timeout could notice, and through a
    // relist of the watchdog (the relist count when it first shows), not the frozen watch.
    let relistsOnArrival = -1;
    await expect
      .poll(
        () => {
          const cached = h.cached();
          if (relistsOnArrival < 0 && cached.includes(whileSilent)) relistsOnArrival = h.informer.relists;
          return cached;
        },
        { timeout: 8_000, interval: 50 },
      )
      .toEqual([probe, whileSilent].sort());
    expect(relistsOnArrival).toBeGreaterThan(relists);
    expect(h.informer.restarts).toBe(0);
  });

  it('leaves no watch open after stop()', async () => {
    const proxy = await proxied();
    const h = secretsInformer({ kubeConfig: kubeConfigThrough(adminKubeConfig(), proxy) });
    await h.informer.waitForSync(20_000);
    expect(proxy.connections).toBeGreaterThan(0);
    await h.informer.stop();
    await expect.poll(() => proxy.connections, { timeout: 10_000 }).toBe(0);
    await createSecret(uniqueName('after-stop'), true);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(h.cached()).toEqual([]);
    await expect(h.informer.waitForSync()).resolves.toBeUndefined(); // synced before it stopped
  });
});

/** An informer on the TokenPolicies of the test's namespace: a custom resource, listed as plain JSON. */
function policiesInformer(overrides: Partial<InformerOptions<TokenPolicy>> = {}) {
  const kubeConfig = adminKubeConfig();
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const resynced: string[] = [];
  const warnings: { obj: object; msg: string }[] = [];
  const informer = createInformer<TokenPolicy>({
    kubeConfig,
    path: `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL.tokenPolicy}`,
    list: (o) =>
      api.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL.tokenPolicy,
        ...o,
      }) as Promise<KubernetesListObject<TokenPolicy>>,
    onResync: (p) => resynced.push(p.metadata?.name ?? ''),
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
    ...overrides,
  });
  cleanups.push(() => informer.stop());
  informer.start();
  return {
    informer,
    resynced,
    warnings,
    cached: () =>
      informer
        .list(namespace)
        .map((p) => p.metadata?.name)
        .sort(),
  };
}

describe('informer paging', () => {
  const PAGE = 5;
  const COUNT = 13; // three pages of five

  it('caches every page of a custom resource, at start and after each relist, and resyncs all', async () => {
    const names = Array.from({ length: COUNT }, (_, i) => `policy-${String(i).padStart(2, '0')}`);
    for (const name of names) await createPolicy(namespace, tokenPolicy(name, onIssuer('none')));
    const h = policiesInformer({ pageSize: PAGE, relistIntervalMs: 1500, resyncIntervalMs: 1000 });
    await h.informer.waitForSync(20_000);
    expect(h.cached()).toEqual(names);
    const relists = h.informer.relists;
    await expect.poll(() => h.informer.relists, { timeout: 10_000 }).toBeGreaterThanOrEqual(relists + 2);
    expect(h.cached()).toEqual(names);
    expect(h.informer.listMismatches).toBe(0);
    expect(h.warnings).toEqual([]);
    // Every cached object is handed out again on each resync.
    await expect.poll(() => h.informer.resyncs, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(new Set(h.resynced)).toEqual(new Set(names));
  });

  it('caches every page of a typed list (Secrets), at start and after a relist', async () => {
    const names = Array.from({ length: COUNT }, (_, i) => `paged-${String(i).padStart(2, '0')}`);
    for (const name of names) await createSecret(name, true);
    await createSecret('paged-unlabelled', false);
    const h = secretsInformer({ pageSize: PAGE, relistIntervalMs: 1500 });
    await h.informer.waitForSync(20_000);
    expect(h.cached()).toEqual(names);
    const relists = h.informer.relists;
    await expect.poll(() => h.informer.relists, { timeout: 10_000 }).toBeGreaterThanOrEqual(relists + 1);
    expect(h.cached()).toEqual(names);
  });

  it('leaves a live watch alone: no relist while events keep coming', async () => {
    const h = secretsInformer({ relistIntervalMs: 1500 });
    await h.informer.waitForSync(20_000);
    const relists = h.informer.relists;
    const created: string[] = [];
    // Four watchdog intervals, with an event every 300 ms.
    for (let i = 0; i < 20; i++) {
      const name = uniqueName(`live-${i}`);
      await createSecret(name, true);
      created.push(name);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await expect.poll(() => h.cached().length, { timeout: 10_000 }).toBe(created.length);
    expect(h.informer.relists).toBe(relists);
  });

  it('resumes a watch the server ends at its timeout without relisting, and counts it', async () => {
    const h = secretsInformer({ minWatchTimeoutMs: 1000 });
    await h.informer.waitForSync(20_000);
    await expect.poll(() => h.informer.watchEnds.timeout, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    const created = uniqueName('after-timeouts');
    await createSecret(created, true);
    await expect.poll(() => h.cached(), { timeout: 10_000 }).toEqual([created]);
    expect(h.informer.relists).toBe(1);
    expect(h.informer.restarts).toBe(0);
    expect(h.informer.watchEnds).toMatchObject({ 'closed-by-server': 0, failed: 0, expired: 0 });
  });
});
