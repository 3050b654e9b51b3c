/**
 * A ClusterTokenIssuer serves only the namespaces it admits, against the real servers: a policy
 * from any other namespace is Ready=False (NamespaceNotAllowed) and gets no token; admission by
 * name or by namespace label takes effect when the issuer or the namespace's labels change; an
 * issuer that names no namespaces serves none.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, createNamespace, uniqueName } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createClusterIssuer,
  createPolicy,
  secretData,
  waitForIssuer,
  waitForPolicy,
} from '../../support/resources.ts';

let admitted: string;
let outsider: string;
let operator: TestOperator;
let transitMount: string;

beforeAll(async () => {
  admitted = await createNamespace('admitted');
  outsider = await createNamespace('outsider');
  transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator({
    ...testConfig({ namespace: admitted, transitMount }),
    namespaces: [admitted, outsider],
  });
});

afterAll(async () => {
  await operator.stop();
});

const opaque = (issuer: string, name: string) => ({
  issuerRef: { name: issuer },
  token: { type: 'opaque' as const, ttl: '1h' },
  secret: { name },
});

async function labelNamespace(name: string, labels: Record<string, string>): Promise<void> {
  await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .patchNamespace({ name, body: [{ op: 'add', path: '/metadata/labels', value: labels }] });
}

describe('namespaces a ClusterTokenIssuer serves', () => {
  it('refuses a policy from a namespace it does not list, and mints nothing', async () => {
    const issuer = uniqueName('listed');
    await createClusterIssuer(issuer, {
      issuer: 'https://tokens.listed.example',
      signing: { transitMount },
      namespaces: { names: [admitted] },
    });
    await waitForIssuer(issuer, 'True/KeyReady');
    await createPolicy(admitted, 'inside', opaque(issuer, 'inside'));
    await createPolicy(outsider, 'intruder', opaque(issuer, 'intruder'));
    await waitForPolicy(admitted, 'inside', 'True/Issued');
    const refused = await waitForPolicy(outsider, 'intruder', 'False/NamespaceNotAllowed');
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBe(
      `ClusterTokenIssuer ${issuer} does not serve namespace ${outsider}: add the namespace to its ` +
        'spec.namespaces.names, or give the namespace labels its spec.namespaces.selector matches',
    );
    expect(refused.status?.currentVersion).toBeUndefined();
    expect(await secretData(outsider, 'intruder')).toBeUndefined();
  });

  it('serves no namespace when spec.namespaces is unset', async () => {
    const issuer = uniqueName('closed');
    await createClusterIssuer(issuer, {
      issuer: 'https://tokens.closed.example',
      signing: { transitMount },
      namespaces: undefined,
    });
    await waitForIssuer(issuer, 'True/KeyReady');
    await createPolicy(admitted, 'closed', opaque(issuer, 'closed'));
    await waitForPolicy(admitted, 'closed', 'False/NamespaceNotAllowed');
    expect(await secretData(admitted, 'closed')).toBeUndefined();
  });

  it('admits by namespace label, as soon as the namespace gets the label', async () => {
    const issuer = uniqueName('labelled');
    const tier = uniqueName('tier');
    await createClusterIssuer(issuer, {
      issuer: 'https://tokens.labelled.example',
      signing: { transitMount },
      namespaces: { selector: { matchLabels: { 'tokensmith.dev/test-tier': tier } } },
    });
    await waitForIssuer(issuer, 'True/KeyReady');
    await createPolicy(outsider, 'by-label', opaque(issuer, 'by-label'));
    await waitForPolicy(outsider, 'by-label', 'False/NamespaceNotAllowed');
    await labelNamespace(outsider, { 'tokensmith.dev/test-tier': tier });
    await waitForPolicy(outsider, 'by-label', 'True/Issued');
    expect((await secretData(outsider, 'by-label'))?.TOKEN).toBeTruthy();
  });
});
