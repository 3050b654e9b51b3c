/**
 * Secrets that merely carry tokensmith's label are not tokensmith's, against the real servers.
 * Anyone who may create Secrets in a namespace can label them `app.kubernetes.io/managed-by:
 * tokensmith`; before, every such Secret — data included — went into the controller's cache, so
 * 250 labelled 1 MiB Secrets made the pod run out of memory on every start. Now the managed-Secret
 * informer lists and watches metadata only and keeps only Secrets a TokenPolicy controls: the
 * flood is not cached, a Secret tokensmith wrote is, and no cached Secret holds data. Secrets
 * with bloated metadata cannot make the list unreadable either (pages shrink to fit the cap).
 */
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL, MANAGED_BY_VALUE } from '../../../src/api/constants.ts';
import type { ResourceInformer } from '../../../src/kube/informer.ts';
import { controlledByTokensmith, managedObjectsInformer } from '../../../src/kube/managedObjects.ts';
import { adminKubeConfig, createNamespace } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createPolicy,
  createReadyClusterIssuer,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

const FLOOD = 40;
const SIZE = 512 * 1024;
const BLOATED = 60;
let namespace: string;
let operator: TestOperator;
let informer: ResourceInformer<V1Secret>;
let received = 0;

beforeAll(async () => {
  namespace = await createNamespace('flood');
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const filler = 'x'.repeat(SIZE);
  for (let i = 0; i < FLOOD; i++) {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: `junk-${i}`,
          labels: { [LABEL.managedBy]: MANAGED_BY_VALUE, [LABEL.policy]: `victim-${i}` },
        },
        stringData: { blob: filler },
      },
    });
  }
  // And Secrets whose metadata alone is bloated (200 KiB of annotations each, 12 MiB in all): more
  // than a list page may hold, so the list is read in smaller pages rather than failing.
  const bloat = 'y'.repeat(200 * 1024);
  for (let i = 0; i < BLOATED; i++) {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: `junk-bloated-${i}`,
          labels: { [LABEL.managedBy]: MANAGED_BY_VALUE },
          annotations: { 'example.com/bloat': bloat },
        },
      },
    });
  }
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount }));
  const issuer = await createReadyClusterIssuer('flood', transitMount);
  await createPolicy(namespace, tokenPolicy('real', onIssuer(issuer)));
  await waitForPolicy(namespace, 'real', 'True/Issued');
  // The informer exactly as the controller builds it.
  informer = managedObjectsInformer<V1Secret>({
    kubeConfig: adminKubeConfig(),
    resource: 'secrets',
    keep: controlledByTokensmith,
    onChange: (s) => {
      if (s.metadata?.namespace === namespace) received += JSON.stringify(s).length;
    },
  });
  informer.start();
  await informer.waitForSync(30_000);
});

afterAll(async () => {
  await informer.stop();
  await operator.stop();
});

describe('labelled Secrets tokensmith does not control', () => {
  it('are not cached, and no cached Secret holds data', () => {
    const cached = informer.list(namespace).map((s) => s.metadata?.name);
    expect(cached).toEqual(['real']);
    expect(informer.list().every((s) => s.data === undefined && s.stringData === undefined)).toBe(true);
    // What reached the handlers from this namespace is metadata: a few KiB, not FLOOD × SIZE.
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(16 * 1024);
  });

  it('do not stop the controller from serving its own Secret, data and all', async () => {
    const token = (await secretData(namespace, 'real'))?.TOKEN ?? '';
    expect(token.length).toBeGreaterThan(20);
    // Drift is still corrected: the controller reads its Secret by name when the metadata changes.
    await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .patchNamespacedSecret({
        namespace,
        name: 'real',
        body: [{ op: 'replace', path: '/data/TOKEN', value: Buffer.from('tampered').toString('base64') }],
      });
    await expect
      .poll(async () => (await secretData(namespace, 'real'))?.TOKEN, { timeout: 15_000 })
      .toBe(token);
    expect(operator.logs()).not.toContain('junk-');
  });
});
