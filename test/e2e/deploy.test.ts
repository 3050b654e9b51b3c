/**
 * deploy/ as a user applies it: the manifests are accepted by the real API server, and the
 * controller running as the `tokensmith` ServiceAccount — with exactly the RBAC of deploy/base/rbac.yaml,
 * and leader election on — issues tokens. Least privilege that is too little fails here.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { startCaptureServer } from '../support/captureServer.ts';
import { adminKubeConfig, createNamespace, uniqueName } from '../support/environment.ts';
import { canIAs, kubectl, startOperatorAs } from '../support/deployed.ts';
import { enableEngine, testConfig, type TestOperator } from '../support/operator.ts';
import {
  createClusterIssuer,
  createPolicy,
  createTokenIssuer,
  secretData,
  waitForIssuer,
  waitForPolicy,
} from '../support/resources.ts';
import { jwt, onIssuer, tokenPolicy } from '../support/policies.ts';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
const SYSTEM = 'tokensmith-system';
let namespace: string;
let operator: TestOperator;

beforeAll(async () => {
  await kubectl(
    'apply',
    '-f',
    join(DEPLOY, 'base', 'namespace.yaml'),
    '-f',
    join(DEPLOY, 'base', 'rbac.yaml'),
  );
  namespace = await createNamespace('deployed');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startOperatorAs(SYSTEM, 'tokensmith', {
    ...testConfig({ namespace, transitMount }),
    leaderElection: {
      enabled: true,
      namespace: SYSTEM,
      name: uniqueName('tokensmith-controller'),
      identity: 'pod-a',
    },
  });
});

afterAll(async () => {
  await operator.stop();
});

describe('deploy/', () => {
  it('is accepted by the API server as a whole (server-side dry run)', async () => {
    const out = await kubectl('apply', '--dry-run=server', '-k', DEPLOY);
    expect(out).toContain('deployment.apps/tokensmith');
    expect(out).toContain('clusterrole.rbac.authorization.k8s.io/tokensmith-controller');
    // As the chart renders by default: both Services and a PodDisruptionBudget.
    expect(out).toContain('service/tokensmith-metrics');
    expect(out).toContain('service/tokensmith ');
    expect(out).toContain('poddisruptionbudget.policy/tokensmith');
  });

  it('ships the CRDs in one file that applies as it is (deploy/crds.yaml)', async () => {
    const out = await kubectl('apply', '--server-side', '--dry-run=server', '-f', join(DEPLOY, 'crds.yaml'));
    for (const crd of ['clustertokenissuers', 'tokenissuers', 'tokenpolicies']) {
      expect(out).toContain(`customresourcedefinition.apiextensions.k8s.io/${crd}.tokensmith.dev`);
    }
  });

  it('gives the controller enough RBAC to issue, as the tokensmith ServiceAccount with leader election', async () => {
    const issuer = uniqueName('deployed');
    await createClusterIssuer(issuer, {
      issuer: 'https://tokens.deployed.example',
      signing: { transitMount: operator.config.vault.transitMount },
    });
    await waitForIssuer(issuer, 'True/KeyReady');
    await createPolicy(namespace, tokenPolicy('as-sa', onIssuer(issuer), jwt(['api'])));
    await waitForPolicy(namespace, 'as-sa', 'True/Issued');
    expect((await secretData(namespace, 'as-sa'))?.TOKEN?.split('.')).toHaveLength(3);
    // Nothing was refused along the way (a 403 would be logged as a failed request).
    expect(operator.logs()).not.toMatch(/"status":403/);
  });

  it('denies the controller what it does not need', async () => {
    const canI = canIAs(SYSTEM, 'tokensmith');
    expect(await canI('delete', 'secrets', '-A')).toBe('no');
    // Verbs with no call site are not granted.
    expect(await canI('update', 'events.events.k8s.io', '-n', namespace)).toBe('no');
    expect(await canI('create', 'events', '-n', namespace)).toBe('no'); // core events are not used
    expect(await canI('get', 'configmaps', '-n', namespace)).toBe('no');
    expect(await canI('get', 'tokenpolicies.tokensmith.dev', '-n', namespace)).toBe('no');
    expect(
      await canI('update', 'tokenpolicies.tokensmith.dev', '--subresource=status', '-n', namespace),
    ).toBe('no');
    expect(await canI('patch', 'tokenpolicies.tokensmith.dev', '--subresource=status', '-n', namespace)).toBe(
      'yes',
    );
    expect(await canI('create', 'events.events.k8s.io', '-n', namespace)).toBe('yes');
    expect(await canI('watch', 'namespaces')).toBe('yes');
    expect(await canI('delete', 'namespaces')).toBe('no');
    expect(await canI('create', 'tokenreviews.authentication.k8s.io')).toBe('yes');
    expect(await canI('create', 'subjectaccessreviews.authorization.k8s.io')).toBe('no');
    expect(await canI('create', 'pods', '-n', namespace)).toBe('no');
    expect(await canI('update', 'leases', '-n', namespace)).toBe('no');
    expect(await canI('update', 'leases', '-n', SYSTEM)).toBe('yes');
    expect(await canI('list', 'leases', '-n', SYSTEM)).toBe('yes');
    expect(await canI('delete', 'leases', '-n', SYSTEM)).toBe('no');
    expect(await canI('patch', 'deployments', '-n', namespace)).toBe('yes');
    // Service-account tokens only where a namespace opted in, for the account it named.
    expect(await canI('create', 'serviceaccounts', '--subresource=token', '-n', namespace)).toBe('no');
    await kubectl(
      'create',
      'role',
      'tokensmith-vault-login',
      '-n',
      namespace,
      '--verb=create',
      '--resource=serviceaccounts/token',
      '--resource-name=vault-client',
    );
    await kubectl(
      'create',
      'rolebinding',
      'tokensmith-vault-login',
      '-n',
      namespace,
      '--role=tokensmith-vault-login',
      `--serviceaccount=${SYSTEM}:tokensmith`,
    );
    expect(await canI('create', 'serviceaccounts/vault-client', '--subresource=token', '-n', namespace)).toBe(
      'yes',
    );
    expect(await canI('create', 'serviceaccounts/other', '--subresource=token', '-n', namespace)).toBe('no');
  });

  it('cannot be made to request a token for a service account its namespace did not name', async () => {
    // The TokenIssuer names a Vault of its own (the attacker's listener): whatever tokensmith sends
    // there is recorded. Before the opt-in, the privileged account's token arrived at its login.
    const capture = await startCaptureServer('borrow');
    try {
      await adminKubeConfig()
        .makeApiClient(CoreV1Api)
        .createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'privileged' } } });
      await createTokenIssuer(namespace, 'borrow', {
        issuer: 'https://tokens.borrow.example',
        vault: {
          address: capture.url,
          caBundle: capture.caPem,
          auth: { kubernetes: { role: 'anything', serviceAccountRef: { name: 'privileged' } } },
        },
      });
      const issuer = await waitForIssuer('borrow', 'False/VaultAuthFailed', 30_000, namespace);
      expect(issuer.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain(
        `tokensmith may not request a token for ServiceAccount ${namespace}/privileged: the namespace opts in ` +
          "with a Role granting create on serviceaccounts/token for resourceNames [privileged], bound to tokensmith's ServiceAccount",
      );
      expect(capture.captured).toEqual([]);
    } finally {
      await capture.close();
    }
  });
});
