/**
 * deploy/namespaced as a user applies it: Roles in the served namespace instead of the ClusterRole,
 * and the controller with --install-scope=namespaced running as that ServiceAccount issues tokens
 * through a TokenIssuer, with no cluster-wide right but creating TokenReviews (checked with
 * `kubectl auth can-i`), which is enough for its verification server to introspect. The
 * overlay is rendered with kustomize and its namespaces (tokensmith-system, payments) replaced by
 * this test's own, so no other test's bindings of tokensmith-system:tokensmith get in the way.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, uniqueName } from '../support/environment.ts';
import { canIAs, kubectl, startOperatorAs } from '../support/deployed.ts';
import { enableEngine, testConfig, type TestOperator } from '../support/operator.ts';
import {
  createPolicy,
  createTokenIssuer,
  secretData,
  waitForIssuer,
  waitForPolicy,
} from '../support/resources.ts';
import { jwt, onIssuer, tokenPolicy } from '../support/policies.ts';
import {
  introspectAt,
  serviceAccountToken,
  verifyConfig,
  verifyTls,
  type VerifyTls,
} from '../support/verifyServer.ts';

const OVERLAY = join(import.meta.dirname, '..', '..', 'deploy', 'namespaced');
let system: string;
let served: string;
let rendered: string;
let operator: TestOperator;
let tls: VerifyTls;

const canI = (...args: string[]) => canIAs(system, 'tokensmith')(...args);

beforeAll(async () => {
  system = await createNamespace('ts-system');
  served = await createNamespace('ts-served');
  const yaml = (await kubectl('kustomize', OVERLAY))
    .replaceAll('tokensmith-system', system)
    .replaceAll('payments', served);
  rendered = join(tmpdir(), `${uniqueName('namespaced')}.yaml`);
  writeFileSync(rendered, yaml);
  // The CRDs are in place already; apply what the overlay adds for tokensmith itself.
  const objects = yaml
    .split(/^---$/m)
    .filter((doc) => /^kind: (ServiceAccount|Role|RoleBinding|ClusterRole|ClusterRoleBinding)$/m.test(doc));
  const rbac = join(tmpdir(), `${uniqueName('namespaced-rbac')}.yaml`);
  writeFileSync(rbac, objects.join('\n---\n'));
  await kubectl('apply', '-f', rbac);

  const transitMount = await enableEngine('transit', 'transit');
  tls = await verifyTls();
  operator = await startOperatorAs(system, 'tokensmith', {
    ...testConfig({ namespace: served, transitMount }),
    verify: verifyConfig(tls),
    installScope: 'namespaced',
    clusterResourceNamespace: system,
    leaderElection: { enabled: true, namespace: system, name: 'tokensmith-controller', identity: 'pod-a' },
  });
});

afterAll(async () => {
  await operator.stop();
});

describe('deploy/namespaced', () => {
  it('is accepted by the API server as a whole (server-side dry run), with no cluster-wide role but TokenReviews', async () => {
    const out = await kubectl('apply', '--dry-run=server', '-f', rendered);
    expect(out).toContain('deployment.apps/tokensmith');
    expect(out).toContain(`role.rbac.authorization.k8s.io/tokensmith-controller`);
    const clusterWide = out.split('\n').filter((line) => line.startsWith('clusterrole'));
    expect(clusterWide.map((line) => line.split(' ')[0])).toEqual([
      'clusterrole.rbac.authorization.k8s.io/tokensmith-tokenreview',
      'clusterrolebinding.rbac.authorization.k8s.io/tokensmith-tokenreview',
    ]);
  });

  it('grants exactly what the controller uses, in the served namespace only', async () => {
    for (const [verb, resource] of [
      ['list', 'secrets'],
      ['create', 'secrets'],
      ['watch', 'configmaps'],
      ['patch', 'tokenpolicies.tokensmith.dev'],
      ['list', 'tokenissuers.tokensmith.dev'],
      ['create', 'events.events.k8s.io'],
      ['patch', 'deployments.apps'],
    ] as const) {
      expect(await canI(verb, resource, '-n', served), `${verb} ${resource}`).toBe('yes');
      expect(await canI(verb, resource, '-A'), `${verb} ${resource} -A`).toBe('no');
    }
    expect(await canI('watch', 'namespaces')).toBe('no');
    expect(await canI('list', 'clustertokenissuers.tokensmith.dev')).toBe('no');
    expect(await canI('get', 'configmaps', '-n', served)).toBe('no');
    expect(await canI('create', 'serviceaccounts', '--subresource=token', '-n', served)).toBe('no');
    expect(await canI('update', 'leases.coordination.k8s.io', '-n', system)).toBe('yes');
    expect(await canI('create', 'tokenreviews.authentication.k8s.io')).toBe('yes');
    expect(await canI('create', 'subjectaccessreviews.authorization.k8s.io')).toBe('no');
  });

  it('introspects for a consumer, checking the caller with a TokenReview as that ServiceAccount', async () => {
    await createTokenIssuer(served, 'verify', { issuer: 'https://tokens.verify.example' });
    await waitForIssuer('verify', 'True/KeyReady', 30_000, served);
    await createPolicy(served, tokenPolicy('introspected', onIssuer('verify', 'TokenIssuer')));
    await waitForPolicy(served, 'introspected', 'True/Issued');
    const token = (await secretData(served, 'introspected'))?.TOKEN ?? '';
    const port = (await operator.operator.verifyServer)?.port ?? 0;
    const caller = await serviceAccountToken(served, 'orders-api', 'tokensmith');
    const answer = await introspectAt(port, tls.caPem, `/issuers/${served}/verify/introspect`, caller, token);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({
      active: true,
      policy: `${served}/introspected`,
      token_type: 'Bearer',
      token_use: 'access_token',
    });
  });

  it('issues tokens through a TokenIssuer as that ServiceAccount, and says a ClusterTokenIssuer is not served', async () => {
    await createTokenIssuer(served, 'local', { issuer: 'https://tokens.local.example' });
    await waitForIssuer('local', 'True/KeyReady', 30_000, served);
    await createPolicy(served, tokenPolicy('local', onIssuer('local', 'TokenIssuer'), jwt(['api'])));
    await waitForPolicy(served, 'local', 'True/Issued');
    expect((await secretData(served, 'local'))?.TOKEN?.split('.')).toHaveLength(3);
    await createPolicy(served, 'cluster', {
      issuerRef: { kind: 'ClusterTokenIssuer', name: 'anything' },
      token: { type: 'opaque', ttl: '1h' },
      secret: { name: 'cluster' },
    });
    const refused = await waitForPolicy(served, 'cluster', 'False/IssuerNotFound');
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(
      /installed per namespace \(--install-scope=namespaced\) and serves TokenIssuers only/,
    );
    // Nothing was refused along the way.
    expect(operator.logs()).not.toMatch(/"status":403/);
  });
});
