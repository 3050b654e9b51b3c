/**
 * The JWKS ConfigMap is tokensmith's own, against the real servers: it carries an owner reference
 * to its issuer, an edit to it is undone, it goes with its issuer (the real garbage collector of
 * kube-controller-manager removes it), and tokensmith never takes over a ConfigMap of that name
 * that it did not create (a tenant could otherwise have tokensmith overwrite, and then own, any
 * ConfigMap whose name matches an issuer's JWKS name).
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenIssuer } from '../../../src/api/v1alpha1.generated.ts';
import { adminKubeConfig, createNamespace } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import { kubeStatus } from '../../../src/kube/apiErrors.ts';
import {
  createReadyClusterIssuer,
  createTokenIssuer,
  deleteIssuer,
  waitForIssuer,
} from '../../support/resources.ts';

let namespace: string;
let operator: TestOperator;
const core = () => adminKubeConfig().makeApiClient(CoreV1Api);
const jwksOf = async (name: string) =>
  (await core().readNamespacedConfigMap({ namespace, name })).data?.['jwks.json'] ?? '';

beforeAll(async () => {
  namespace = await createNamespace('jwks-cm');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount }));
});

afterAll(async () => {
  await operator.stop();
});

describe('the JWKS ConfigMap', () => {
  it('is owned by its issuer, and an edit to it is undone', async () => {
    await createTokenIssuer(namespace, 'owned', { issuer: 'https://tokens.owned.example' });
    const issuer = (await waitForIssuer('owned', 'True/KeyReady', 30_000, namespace)) as TokenIssuer;
    const cm = await core().readNamespacedConfigMap({ namespace, name: 'owned-jwks' });
    expect(cm.metadata?.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'TokenIssuer',
        name: 'owned',
        uid: issuer.metadata?.uid,
        controller: true,
      }),
    ]);
    const published = await jwksOf('owned-jwks');
    expect(JSON.parse(published)).toMatchObject({
      keys: [expect.objectContaining({ kid: issuer.status?.activeKid })],
    });

    await core().patchNamespacedConfigMap({
      namespace,
      name: 'owned-jwks',
      body: [{ op: 'replace', path: '/data/jwks.json', value: '{"keys":[{"kty":"oct","k":"forged"}]}' }],
    });
    await expect.poll(() => jwksOf('owned-jwks'), { timeout: 15_000 }).toBe(published);
  });

  it('goes with its issuer, namespaced or cluster-wide', async () => {
    await createTokenIssuer(namespace, 'short-lived', { issuer: 'https://tokens.short-lived.example' });
    await waitForIssuer('short-lived', 'True/KeyReady', 30_000, namespace);
    const cluster = await createReadyClusterIssuer('jwks-gc', operator.config.vault.transitMount);
    const clusterCm = { namespace, name: `clustertokenissuer-${cluster}-jwks` }; // cluster resource namespace
    expect((await core().readNamespacedConfigMap(clusterCm)).metadata?.ownerReferences?.[0]?.kind).toBe(
      'ClusterTokenIssuer',
    );

    await deleteIssuer('short-lived', namespace);
    await deleteIssuer(cluster);
    const gone = async (key: { namespace: string; name: string }) =>
      core()
        .readNamespacedConfigMap(key)
        .then(
          () => false,
          (err: unknown) => kubeStatus(err) === 404,
        );
    await expect.poll(() => gone({ namespace, name: 'short-lived-jwks' }), { timeout: 60_000 }).toBe(true);
    await expect.poll(() => gone(clusterCm), { timeout: 60_000 }).toBe(true);
  });

  it('is never taken over when someone else made a ConfigMap of that name', async () => {
    await core().createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'squatted-jwks' }, data: { 'jwks.json': 'not yours', other: 'kept' } },
    });
    await createTokenIssuer(namespace, 'squatted', { issuer: 'https://tokens.squatted.example' });
    const issuer = await waitForIssuer('squatted', 'False/ConfigMapNotOwned', 30_000, namespace);
    expect(issuer.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBe(
      `ConfigMap ${namespace}/squatted-jwks exists and was not created by tokensmith for this issuer; tokensmith ` +
        'does not take it over: delete or rename it, and the JWKS is published there',
    );
    const untouched = await core().readNamespacedConfigMap({ namespace, name: 'squatted-jwks' });
    expect(untouched.data).toEqual({ 'jwks.json': 'not yours', other: 'kept' });
    expect(untouched.metadata?.ownerReferences).toBeUndefined();

    // Once it is gone, the issuer publishes there.
    await core().deleteNamespacedConfigMap({ namespace, name: 'squatted-jwks' });
    await waitForIssuer('squatted', 'True/KeyReady', 60_000, namespace);
    expect((JSON.parse(await jwksOf('squatted-jwks')) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
  });
});
