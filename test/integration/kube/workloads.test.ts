/**
 * The WorkloadRestarter against the real kube-apiserver. No kubelet or controller-manager runs in
 * the test environment, so a restart is observed where it happens: the pod template annotation and
 * `metadata.generation`, which grows by one for each template change. Proven: one restart per token
 * version (again with the same fingerprint, or from a fresh restarter after an operator restart,
 * changes nothing — not even the resourceVersion); a new version restarts again; two policies on
 * one workload each restart it once per their own version and keep each other's annotation; all
 * three kinds; other annotations kept and the patch attributed to the `tokensmith` manager for its
 * two fields only; missing workloads reported; other namespaces untouched; API errors reported as
 * `failed` without throwing; a write that lands between read and patch makes the restart be decided
 * again instead of repeated; and the restart limiter spreads a mass restart out.
 */
import {
  AppsV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATION } from '../../../src/api/constants.ts';
import type { RequestLimiter } from '../../../src/ports.ts';
import { tokenAnnotationKey } from '../../../src/kube/restartAnnotations.ts';
import {
  createWorkloadRestarter,
  type RestartLogger,
  type WorkloadKind,
  type WorkloadRestarterOptions,
} from '../../../src/kube/workloads.ts';
import { createRequestLimiter } from '../../../src/util/rateLimiter.ts';
import { adminKubeConfig, bearerKubeConfig, createNamespace, uniqueName } from '../../support/environment.ts';

const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
let namespace: string;
let otherNamespace: string;

beforeAll(async () => {
  namespace = await createNamespace('workloads');
  otherNamespace = await createNamespace('workloads-other');
});

/** Creates a minimal workload of `kind` that reads a Secret through envFrom. */
async function createWorkload(
  kind: WorkloadKind,
  name: string,
  options: { namespace?: string; templateAnnotations?: Record<string, string> } = {},
): Promise<void> {
  const ns = options.namespace ?? namespace;
  const labels = { app: name };
  const template = {
    metadata: {
      labels,
      ...(options.templateAnnotations ? { annotations: options.templateAnnotations } : {}),
    },
    spec: {
      containers: [
        { name: 'app', image: 'registry.example/app:1', envFrom: [{ secretRef: { name: 'token' } }] },
      ],
    },
  };
  const spec = { selector: { matchLabels: labels }, template };
  if (kind === 'Deployment')
    await apps().createNamespacedDeployment({ namespace: ns, body: { metadata: { name }, spec } });
  if (kind === 'StatefulSet') {
    await apps().createNamespacedStatefulSet({
      namespace: ns,
      body: { metadata: { name }, spec: { ...spec, serviceName: name } },
    });
  }
  if (kind === 'DaemonSet')
    await apps().createNamespacedDaemonSet({ namespace: ns, body: { metadata: { name }, spec } });
}

interface Observed {
  generation: number;
  resourceVersion: string;
  annotations: Record<string, string>;
  managedFields: V1ObjectMeta['managedFields'];
}

/** What the API server holds for a workload now. */
async function observe(kind: WorkloadKind, name: string, ns = namespace): Promise<Observed> {
  const key = { namespace: ns, name };
  const obj =
    kind === 'Deployment'
      ? await apps().readNamespacedDeployment(key)
      : kind === 'StatefulSet'
        ? await apps().readNamespacedStatefulSet(key)
        : await apps().readNamespacedDaemonSet(key);
  return {
    generation: obj.metadata?.generation ?? 0,
    resourceVersion: obj.metadata?.resourceVersion ?? '',
    annotations: obj.spec?.template.metadata?.annotations ?? {},
    managedFields: obj.metadata?.managedFields,
  };
}

/** A RequestLimiter that counts the turns taken and can act just before a turn's request runs. */
function countingLimiter(inner: RequestLimiter, before?: () => Promise<void>) {
  const counter = {
    turns: 0,
    async run<T>(request: () => Promise<T>): Promise<T> {
      counter.turns += 1;
      if (before) await before();
      return inner.run(request);
    },
  };
  return counter;
}

function restarter(overrides: Partial<WorkloadRestarterOptions> = {}) {
  const restartLimiter = countingLimiter(createRequestLimiter({ qps: Infinity }));
  const logs: { level: string; obj: object; msg: string }[] = [];
  const logger: RestartLogger = {
    info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
  };
  const subject = createWorkloadRestarter({
    kubeConfig: adminKubeConfig(),
    limiter: createRequestLimiter(),
    restartLimiter,
    logger,
    ...overrides,
  });
  return { subject, restartLimiter, logs };
}

const policy = (name: string) => ({ namespace, name });

describe('WorkloadRestarter', () => {
  it('restarts once per fingerprint, and again for a new one', async () => {
    const name = uniqueName('checkout');
    await createWorkload('Deployment', name);
    const before = await observe('Deployment', name);
    const { subject, restartLimiter, logs } = restarter();
    const workloads = [{ kind: 'Deployment' as const, name }];

    expect(await subject.ensureRestartedFor(policy('orders-api'), workloads, 'sha256:v1')).toEqual([
      { kind: 'Deployment', name, outcome: 'restarted' },
    ]);
    const first = await observe('Deployment', name);
    expect(first.generation).toBe(before.generation + 1);
    expect(first.annotations[tokenAnnotationKey('orders-api')]).toBe('sha256:v1');
    expect(new Date(first.annotations[ANNOTATION.restartedAt] ?? '').getTime()).toBeGreaterThan(0);
    expect(restartLimiter.turns).toBe(1);
    expect(logs).toEqual([
      {
        level: 'info',
        obj: {
          tokenPolicy: `${namespace}/orders-api`,
          workload: `Deployment ${namespace}/${name}`,
          fingerprint: 'sha256:v1',
        },
        msg: 'restarted a workload for a new token',
      },
    ]);

    // The same version again, and from a fresh restarter as after an operator restart: nothing is written.
    expect(await subject.ensureRestartedFor(policy('orders-api'), workloads, 'sha256:v1')).toEqual([
      { kind: 'Deployment', name, outcome: 'unchanged' },
    ]);
    const afterRestart = restarter();
    expect(
      await afterRestart.subject.ensureRestartedFor(policy('orders-api'), workloads, 'sha256:v1'),
    ).toEqual([{ kind: 'Deployment', name, outcome: 'unchanged' }]);
    const again = await observe('Deployment', name);
    // (Its resourceVersion moves: the real Deployment controller updates its status.)
    expect(again.generation).toBe(first.generation);
    expect(again.annotations).toEqual(first.annotations);
    expect(restartLimiter.turns + afterRestart.restartLimiter.turns).toBe(1);

    // A new version restarts exactly once more.
    expect(await subject.ensureRestartedFor(policy('orders-api'), workloads, 'sha256:v2')).toEqual([
      { kind: 'Deployment', name, outcome: 'restarted' },
    ]);
    await subject.ensureRestartedFor(policy('orders-api'), workloads, 'sha256:v2');
    const second = await observe('Deployment', name);
    expect(second.generation).toBe(first.generation + 1);
    expect(second.annotations[tokenAnnotationKey('orders-api')]).toBe('sha256:v2');
    // What Kubernetes does next is real: each restart rolled out a ReplicaSet of its own (the
    // original, v1 and v2), and the Deployment controller saw the latest generation.
    await expect
      .poll(async () => {
        const sets = await apps().listNamespacedReplicaSet({ namespace });
        return sets.items.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.name === name)).length;
      })
      .toBe(3);
    await expect
      .poll(
        async () => (await apps().readNamespacedDeployment({ namespace, name })).status?.observedGeneration,
      )
      .toBe(second.generation);
  });

  it('lets two policies on one workload each restart it once per their own version', async () => {
    const name = uniqueName('shared');
    await createWorkload('Deployment', name);
    const start = (await observe('Deployment', name)).generation;
    const { subject } = restarter();
    const workloads = [{ kind: 'Deployment' as const, name }];
    const a = tokenAnnotationKey('policy-a');
    const b = tokenAnnotationKey('policy-b');

    await subject.ensureRestartedFor(policy('policy-a'), workloads, 'sha256:a1');
    await subject.ensureRestartedFor(policy('policy-b'), workloads, 'sha256:b1');
    expect(await observe('Deployment', name)).toMatchObject({
      generation: start + 2,
      annotations: { [a]: 'sha256:a1', [b]: 'sha256:b1' },
    });

    // Neither repeats, whatever order the reconciles come in.
    const repeats = [
      ...(await subject.ensureRestartedFor(policy('policy-b'), workloads, 'sha256:b1')),
      ...(await subject.ensureRestartedFor(policy('policy-a'), workloads, 'sha256:a1')),
    ];
    expect(repeats.map((r) => r.outcome)).toEqual(['unchanged', 'unchanged']);
    expect((await observe('Deployment', name)).generation).toBe(start + 2);

    // A rotates; B's annotation stays, and B still has nothing to do.
    await subject.ensureRestartedFor(policy('policy-a'), workloads, 'sha256:a2');
    expect(await subject.ensureRestartedFor(policy('policy-b'), workloads, 'sha256:b1')).toEqual([
      { kind: 'Deployment', name, outcome: 'unchanged' },
    ]);
    expect(await observe('Deployment', name)).toMatchObject({
      generation: start + 3,
      annotations: { [a]: 'sha256:a2', [b]: 'sha256:b1' },
    });
  });

  it('restarts Deployments, StatefulSets and DaemonSets, touching only its own two annotations', async () => {
    const kinds: WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];
    const name = uniqueName('app');
    const kept = { 'example.com/owner': 'team-a', [tokenAnnotationKey('unrelated')]: 'sha256:other' };
    for (const kind of kinds) await createWorkload(kind, name, { templateAnnotations: kept });
    const before = await Promise.all(kinds.map((kind) => observe(kind, name)));
    const { subject } = restarter();

    const results = await subject.ensureRestartedFor(
      policy('all-kinds'),
      kinds.map((kind) => ({ kind, name })),
      'sha256:k1',
    );
    expect(results).toEqual(kinds.map((kind) => ({ kind, name, outcome: 'restarted' })));
    for (const [i, kind] of kinds.entries()) {
      const after = await observe(kind, name);
      expect(after.generation, kind).toBe((before[i]?.generation ?? 0) + 1);
      expect(after.annotations, kind).toEqual({
        ...kept,
        [tokenAnnotationKey('all-kinds')]: 'sha256:k1',
        [ANNOTATION.restartedAt]: expect.any(String) as unknown,
      });
      // managedFields: tokensmith owns the two annotations it set, and nothing else.
      const ours = after.managedFields?.filter((f) => f.manager === 'tokensmith');
      expect(
        ours?.map((f) => ({ operation: f.operation, fields: f.fieldsV1 as unknown })),
        kind,
      ).toEqual([
        {
          operation: 'Update',
          fields: {
            'f:spec': {
              'f:template': {
                'f:metadata': {
                  'f:annotations': {
                    [`f:${tokenAnnotationKey('all-kinds')}`]: {},
                    [`f:${ANNOTATION.restartedAt}`]: {},
                  },
                },
              },
            },
          },
        },
      ]);
    }
  });

  it('reports a missing workload as missing and still restarts the others', async () => {
    const name = uniqueName('present');
    await createWorkload('StatefulSet', name);
    const { subject, restartLimiter } = restarter();
    const results = await subject.ensureRestartedFor(
      policy('with-missing'),
      [
        { kind: 'Deployment', name: 'does-not-exist' },
        { kind: 'StatefulSet', name },
        { kind: 'DaemonSet', name },
      ],
      'sha256:m1',
    );
    expect(results).toEqual([
      {
        kind: 'Deployment',
        name: 'does-not-exist',
        outcome: 'missing',
        message: `Deployment ${namespace}/does-not-exist not found`,
      },
      { kind: 'StatefulSet', name, outcome: 'restarted' },
      { kind: 'DaemonSet', name, outcome: 'missing', message: `DaemonSet ${namespace}/${name} not found` },
    ]);
    expect(restartLimiter.turns).toBe(1);
  });

  it('leaves a workload of the same name in another namespace alone', async () => {
    const name = uniqueName('twin');
    await createWorkload('Deployment', name);
    await createWorkload('Deployment', name, { namespace: otherNamespace });
    const otherBefore = await observe('Deployment', name, otherNamespace);
    const { subject } = restarter();

    await subject.ensureRestartedFor(policy('twin-policy'), [{ kind: 'Deployment', name }], 'sha256:t1');

    expect((await observe('Deployment', name)).annotations[tokenAnnotationKey('twin-policy')]).toBe(
      'sha256:t1',
    );
    const otherAfter = await observe('Deployment', name, otherNamespace);
    expect(otherAfter.resourceVersion).toBe(otherBefore.resourceVersion);
    expect(otherAfter.generation).toBe(otherBefore.generation);
    expect(otherAfter.annotations).toEqual({});
  });

  it('reports API errors as failed, by operation and status only, and carries on with the rest', async () => {
    const name = uniqueName('guarded');
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) await createWorkload(kind, name);
    const kubeConfig = await serviceAccountKubeConfig([
      { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get'] },
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['patch'] },
    ]);
    const { subject, logs } = restarter({ kubeConfig });

    const results = await subject.ensureRestartedFor(
      policy('rbac'),
      [
        { kind: 'Deployment', name },
        { kind: 'StatefulSet', name },
        { kind: 'DaemonSet', name },
      ],
      'sha256:r1',
    );
    expect(results).toEqual([
      {
        kind: 'Deployment',
        name,
        outcome: 'failed',
        message: `patching the pod template of Deployment ${namespace}/${name} failed with HTTP 403 (Forbidden)`,
      },
      { kind: 'StatefulSet', name, outcome: 'restarted' },
      {
        kind: 'DaemonSet',
        name,
        outcome: 'failed',
        message: `reading DaemonSet ${namespace}/${name} failed with HTTP 403 (Forbidden)`,
      },
    ]);
    const warned = logs.filter((l) => l.level === 'warn').map((l) => l.obj as { workload: string });
    expect(warned.sort((x, y) => x.workload.localeCompare(y.workload))).toEqual([
      expect.objectContaining({
        code: 'KubernetesRequestFailed',
        status: 403,
        workload: `DaemonSet ${namespace}/${name}`,
      }),
      expect.objectContaining({
        code: 'KubernetesRequestFailed',
        status: 403,
        workload: `Deployment ${namespace}/${name}`,
      }),
    ]);
    expect((await observe('Deployment', name)).annotations).toEqual({});
  });

  it('decides again when the workload changed between read and patch, restarting at most once', async () => {
    const name = uniqueName('raced');
    await createWorkload('Deployment', name);
    const start = (await observe('Deployment', name)).generation;

    // Someone else changes the object after the read: the stale patch is refused and redone.
    const label = countingLimiter(createRequestLimiter(), async () => {
      await apps().patchNamespacedDeployment({
        namespace,
        name,
        body: [{ op: 'add', path: '/metadata/labels', value: { touched: 'yes' } }],
      });
    });
    const first = await restarter({ restartLimiter: label }).subject.ensureRestartedFor(
      policy('race'),
      [{ kind: 'Deployment', name }],
      'sha256:x1',
    );
    expect(first).toEqual([{ kind: 'Deployment', name, outcome: 'restarted' }]);
    expect(await observe('Deployment', name)).toMatchObject({
      generation: start + 1,
      annotations: { [tokenAnnotationKey('race')]: 'sha256:x1' },
    });

    // Another writer (a former leader) restarts for the same version first: no second restart.
    const rival = countingLimiter(createRequestLimiter(), async () => {
      await restarter().subject.ensureRestartedFor(
        policy('race'),
        [{ kind: 'Deployment', name }],
        'sha256:x2',
      );
    });
    const second = await restarter({ restartLimiter: rival }).subject.ensureRestartedFor(
      policy('race'),
      [{ kind: 'Deployment', name }],
      'sha256:x2',
    );
    expect(second).toEqual([{ kind: 'Deployment', name, outcome: 'unchanged' }]);
    expect((await observe('Deployment', name)).generation).toBe(start + 2);
  });

  it('gives up as failed when every patch meets a newer object', async () => {
    const name = uniqueName('busy');
    await createWorkload('Deployment', name);
    const start = await observe('Deployment', name);
    let touches = 0;
    // Every Kubernetes request of the restarter is preceded by someone else's write.
    const busy = countingLimiter(createRequestLimiter(), async () => {
      touches += 1;
      await apps().patchNamespacedDeployment({
        namespace,
        name,
        body: [{ op: 'add', path: '/metadata/labels', value: { touch: String(touches) } }],
      });
    });
    const { subject } = restarter({ limiter: busy, maxConflictAttempts: 3 });

    expect(
      await subject.ensureRestartedFor(policy('busy'), [{ kind: 'Deployment', name }], 'sha256:b1'),
    ).toEqual([
      {
        kind: 'Deployment',
        name,
        outcome: 'failed',
        message: `patching the pod template of Deployment ${namespace}/${name} failed with HTTP 409 (Conflict)`,
      },
    ]);
    // read, patch, then (read, patch) twice more
    expect(busy.turns).toBe(6);
    const after = await observe('Deployment', name);
    expect(after.generation).toBe(start.generation);
    expect(after.annotations).toEqual({});
  });

  it('spreads a mass restart through the restart limiter', async () => {
    const count = 20;
    const names = Array.from({ length: count }, (_, i) => uniqueName(`mass-${i}`));
    await Promise.all(names.map((name) => createWorkload('Deployment', name)));
    const restartLimiter = countingLimiter(createRequestLimiter({ qps: 5, burst: 2 }));
    const { subject } = restarter({ restartLimiter });

    // 20 policies rotate at once, each with its own workload.
    const started = performance.now();
    const results = await Promise.all(
      names.map((name, i) =>
        subject.ensureRestartedFor(policy(`mass-policy-${i}`), [{ kind: 'Deployment', name }], 'sha256:m1'),
      ),
    );
    const elapsedMs = performance.now() - started;
    expect(results.flat().map((r) => r.outcome)).toEqual(names.map(() => 'restarted'));

    const stamps = (
      await Promise.all(
        names.map(async (name) => (await observe('Deployment', name)).annotations[ANNOTATION.restartedAt]),
      )
    )
      .map((s) => new Date(s ?? '').getTime())
      .sort((x, y) => x - y);
    const spreadMs = (stamps.at(-1) ?? 0) - (stamps[0] ?? 0);
    // burst 2 then 5/s: the 18 beyond the burst need at least 3.6 s. Generous bound, never an upper one.
    console.log(
      `restart limiter qps 5 burst 2: ${count} restarts took ${(elapsedMs / 1000).toFixed(2)} s, ` +
        `restartedAt stamps spread over ${(spreadMs / 1000).toFixed(2)} s`,
    );
    expect(elapsedMs).toBeGreaterThanOrEqual(3_000);
    expect(spreadMs).toBeGreaterThanOrEqual(3_000);
    // No more than the burst plus what the rate allows within any stretch of the spread.
    for (let i = 0; i < stamps.length; i += 1) {
      const within1s = stamps.filter((s) => s >= (stamps[i] ?? 0) && s < (stamps[i] ?? 0) + 1_000).length;
      expect(within1s).toBeLessThanOrEqual(2 + 5 + 1);
    }

    // The same versions again: all unchanged, and no restart waits for a turn.
    const again = Promise.all(
      names.map((name, i) =>
        subject.ensureRestartedFor(policy(`mass-policy-${i}`), [{ kind: 'Deployment', name }], 'sha256:m1'),
      ),
    );
    expect((await again).flat().map((r) => r.outcome)).toEqual(names.map(() => 'unchanged'));
    expect(restartLimiter.turns).toBe(count);
  });
});

/** A kubeconfig for a new service account bound to a Role with `rules`, once RBAC lets it read. */
async function serviceAccountKubeConfig(
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[],
): Promise<KubeConfig> {
  const admin = adminKubeConfig();
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const account = uniqueName('restarter');
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: account } } });
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name: account }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: account },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
      subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
    },
  });
  const { status } = await core.createNamespacedServiceAccountToken({
    namespace,
    name: account,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const kubeConfig = bearerKubeConfig(status?.token ?? '');
  // RBAC sees the new binding within moments; wait until the account may read.
  const asAccount = kubeConfig.makeApiClient(AppsV1Api);
  await expect
    .poll(
      async () => {
        try {
          await asAccount.readNamespacedStatefulSet({ namespace, name: 'probe-does-not-exist' });
          return 'read';
        } catch (err) {
          return (err as { code?: number }).code === 404 ? 'read' : 'denied';
        }
      },
      { timeout: 10_000 },
    )
    .toBe('read');
  return kubeConfig;
}
