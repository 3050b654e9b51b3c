/**
 * Proves the test environment's Kubernetes is a real kube-apiserver: storage round-trips through
 * etcd, CRDs from crds/ are served with their schemas and CEL rules enforced, RBAC denies, and
 * kubectl works against the written kubeconfig. Each of these fails against a fake.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  adminKubeConfig,
  bearerKubeConfig,
  createNamespace,
  environment,
} from '../../support/environment.ts';
import { rejection } from '../../support/kubeErrors.ts';

const run = promisify(execFile);
let namespace: string;

beforeAll(async () => {
  namespace = await createNamespace('smoke-kube');
});

describe('kube-apiserver', () => {
  it('stores a Secret and returns it with server-assigned metadata', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'greeting' }, stringData: { message: 'hello' } },
    });
    const secret = await core.readNamespacedSecret({ namespace, name: 'greeting' });
    // stringData is folded into base64 data by the server, and the server assigns a uid and version.
    expect(Buffer.from(secret.data?.message ?? '', 'base64').toString()).toBe('hello');
    expect(secret.stringData).toBeUndefined();
    expect(secret.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(secret.metadata?.resourceVersion)).toBeGreaterThan(0);
    expect(secret.type).toBe('Opaque');
  });

  it('serves the TokenPolicy CRD, applies its defaults and refuses a spec its rules forbid', async () => {
    const custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
    const target = { group: 'tokensmith.dev', version: 'v1alpha1', namespace, plural: 'tokenpolicies' };
    const policy = (name: string, spec: Record<string, unknown>) => ({
      ...target,
      body: { apiVersion: 'tokensmith.dev/v1alpha1', kind: 'TokenPolicy', metadata: { name }, spec },
    });

    const created = (await custom.createNamespacedCustomObject(
      policy('valid', {
        issuerRef: { name: 'payments' },
        token: { type: 'opaque', ttl: '24h' },
        secret: { name: 'valid-token' },
      }),
    )) as { spec: { issuerRef: { kind: string }; secret: { keys?: { token?: string } } } };
    expect(created.spec.issuerRef.kind).toBe('ClusterTokenIssuer');

    const refused = await rejection(() =>
      custom.createNamespacedCustomObject(
        policy('invalid', {
          issuerRef: { name: 'payments' },
          token: { type: 'bearer', ttl: '1h' },
          rotation: { renewBefore: '2h' },
          secret: { name: 'invalid-token' },
        }),
      ),
    );
    expect(refused.code).toBe(422);
    expect(refused.message).toContain('spec.token.type: Unsupported value: "bearer"');

    const refusedByCel = await rejection(() =>
      custom.createNamespacedCustomObject(
        policy('invalid-cel', {
          issuerRef: { name: 'payments' },
          token: { type: 'opaque', ttl: '1h' },
          rotation: { renewBefore: '2h' },
          secret: { name: 'invalid-token' },
        }),
      ),
    );
    expect(refusedByCel.code).toBe(422);
    expect(refusedByCel.message).toContain('rotation.renewBefore must be shorter than token.ttl');
  });

  it('denies a service account without RBAC bindings, then allows it once bound', async () => {
    const admin = adminKubeConfig();
    const core = admin.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
    const { status } = await core.createNamespacedServiceAccountToken({
      namespace,
      name: 'reader',
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = status?.token ?? '';
    const asReader = bearerKubeConfig(token).makeApiClient(CoreV1Api);

    // The token is genuine (the API server authenticates it)…
    const review = await admin
      .makeApiClient(AuthenticationV1Api)
      .createTokenReview({ body: { spec: { token } } });
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${namespace}:reader`);
    // …and RBAC denies what no binding grants.
    const denied = await rejection(() => asReader.listNamespacedSecret({ namespace }));
    expect(denied.code).toBe(403);
    expect(denied.message).toContain(
      `"system:serviceaccount:${namespace}:reader" cannot list resource "secrets"`,
    );

    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'secret-reader' },
        rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'secret-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    await expect
      .poll(async () => (await asReader.listNamespacedSecret({ namespace })).kind, { timeout: 10_000 })
      .toBe('SecretList');
  });

  it('answers kubectl through the written kubeconfig', async () => {
    const env = environment();
    const { stdout } = await run(env.kubectlPath, [
      '--kubeconfig',
      env.kubeconfigPath,
      'get',
      'ns',
      '-o',
      'name',
    ]);
    expect(stdout.split('\n')).toContain(`namespace/${namespace}`);
    const { stdout: resources } = await run(env.kubectlPath, [
      '--kubeconfig',
      env.kubeconfigPath,
      'api-resources',
      '--api-group=tokensmith.dev',
      '-o',
      'name',
    ]);
    expect(resources.split('\n')).toContain('tokenpolicies.tokensmith.dev');
  });
});
