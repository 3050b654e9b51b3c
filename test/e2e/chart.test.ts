/**
 * The Helm chart (charts/tokensmith) against the real API server, with helm built from its Go
 * module: `helm lint`; `helm template` with the default values, and with namespaced mode, the
 * ServiceMonitor, the PrometheusRule and the Ingress on, applied with a server-side dry run; and
 * the rendered RBAC gives its ServiceAccount exactly what deploy/ (and deploy/namespaced) give
 * theirs, checked with the same `kubectl auth can-i` matrix. The monitoring.coreos.com kinds come
 * from minimal CRDs this test installs (no schema beyond the kinds: the Prometheus operator's own
 * CRDs cannot be fetched here).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../env/settings.ts';
import { createNamespace, environment } from '../support/environment.ts';
import { canIAs, kubectl } from '../support/deployed.ts';

const run = promisify(execFile);
const CHART = join(REPO_ROOT, 'charts', 'tokensmith');
const dir = mkdtempSync(join(tmpdir(), 'tokensmith-chart-'));
const renamed: string[] = [];

async function helm(...args: string[]): Promise<string> {
  return (await run(environment().helmPath, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

/** Writes `yaml` to a file and applies it (or dry-runs it) server-side. */
async function apply(name: string, yaml: string, dryRun: boolean): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return kubectl(
    'apply',
    '--server-side',
    '--force-conflicts',
    ...(dryRun ? ['--dry-run=server'] : []),
    '-f',
    file,
  );
}

/**
 * RBAC objects of `yaml` with the cluster-scoped names made unique to `suffix` (other test files
 * apply deploy/'s under the same names), and only the kinds that grant.
 */
function rbacOnly(yaml: string, suffix: string): string {
  const names = ['tokensmith-controller', 'tokensmith-tokenreview', 'tokensmith-leader-election'];
  let out = yaml
    .split(/^---$/m)
    .filter((doc) => /^kind: (ServiceAccount|Role|RoleBinding|ClusterRole|ClusterRoleBinding)$/m.test(doc))
    .filter((doc) => !/name: tokensmith-(edit|view)$/m.test(doc))
    .join('\n---\n');
  for (const name of names) {
    out = out
      .replaceAll(`name: ${name}\n`, `name: ${name}-${suffix}\n`)
      .replaceAll(`name: ${name} }`, `name: ${name}-${suffix} }`);
  }
  renamed.push(...names.map((n) => `${n}-${suffix}`));
  return out;
}

/** What a ServiceAccount may do, as `verb resource scope: yes|no` lines, for `served` and `system`. */
async function matrix(system: string, served: string, other: string): Promise<string[]> {
  const canI = canIAs(system, 'tokensmith');
  const checks: string[][] = [
    ['list', 'tokenpolicies.tokensmith.dev', '-n', served],
    ['patch', 'tokenpolicies.tokensmith.dev', '--subresource=status', '-n', served],
    ['update', 'tokenpolicies.tokensmith.dev', '--subresource=status', '-n', served],
    ['get', 'tokenpolicies.tokensmith.dev', '-n', served],
    ['list', 'tokenissuers.tokensmith.dev', '-n', served],
    ['list', 'clustertokenissuers.tokensmith.dev'],
    ['create', 'secrets', '-n', served],
    ['list', 'secrets', '-n', other],
    ['delete', 'secrets', '-n', served],
    ['watch', 'configmaps', '-n', served],
    ['get', 'configmaps', '-n', served],
    ['create', 'events.events.k8s.io', '-n', served],
    ['create', 'events', '-n', served],
    ['watch', 'namespaces'],
    ['patch', 'deployments.apps', '-n', served],
    ['create', 'pods', '-n', served],
    ['create', 'tokenreviews.authentication.k8s.io'],
    ['create', 'subjectaccessreviews.authorization.k8s.io'],
    ['create', 'serviceaccounts', '--subresource=token', '-n', served],
    ['update', 'leases.coordination.k8s.io', '-n', system],
    ['update', 'leases.coordination.k8s.io', '-n', served],
  ];
  const answers: string[] = [];
  for (const check of checks) {
    const args = check.map((a) =>
      a.replace(served, 'SERVED').replace(system, 'SYSTEM').replace(other, 'OTHER'),
    );
    answers.push(`${args.join(' ')}: ${await canI(...check)}`);
  }
  return answers;
}

let other: string;

beforeAll(async () => {
  other = await createNamespace('chart-other');
  // Minimal CRDs of the Prometheus operator's kinds, so the dry run can take them.
  const stub = (kind: string, plural: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ${plural}.monitoring.coreos.com }
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: { kind: ${kind}, plural: ${plural}, singular: ${kind.toLowerCase()}, listKind: ${kind}List }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;
  await apply(
    'monitoring-crds',
    [stub('ServiceMonitor', 'servicemonitors'), stub('PrometheusRule', 'prometheusrules')].join('---\n'),
    false,
  );
  await kubectl(
    'wait',
    '--for=condition=Established',
    'crd/servicemonitors.monitoring.coreos.com',
    'crd/prometheusrules.monitoring.coreos.com',
  );
}, 60_000);

afterAll(async () => {
  for (const name of renamed) {
    await kubectl('delete', 'clusterrole,clusterrolebinding', name, '--ignore-not-found');
  }
});

describe('charts/tokensmith', () => {
  it('passes helm lint, in both modes', async () => {
    expect(await helm('lint', CHART)).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(
      await helm('lint', CHART, '--set', 'installScope=namespaced', '--set', 'namespaces={payments}'),
    ).toContain('0 chart(s) failed');
  });

  it('renders the default values into objects the API server accepts', async () => {
    const ns = await createNamespace('chart-default');
    const yaml = await helm('template', 'tokensmith', CHART, '-n', ns);
    const out = await apply('default', yaml, true);
    for (const object of [
      'deployment.apps/tokensmith',
      'service/tokensmith-metrics',
      'service/tokensmith',
      'poddisruptionbudget.policy/tokensmith',
      'clusterrole.rbac.authorization.k8s.io/tokensmith-controller',
      'clusterrole.rbac.authorization.k8s.io/tokensmith-edit',
      'clusterrole.rbac.authorization.k8s.io/tokensmith-view',
      'customresourcedefinition.apiextensions.k8s.io/tokenpolicies.tokensmith.dev',
    ]) {
      expect(out).toContain(object);
    }
    expect(yaml).toContain('helm.sh/resource-policy: keep');
  });

  it('renders namespaced mode with the ServiceMonitor, PrometheusRule and Ingress on, accepted too', async () => {
    const ns = await createNamespace('chart-namespaced');
    const served = await createNamespace('chart-served');
    const yaml = await helm(
      'template',
      'tokensmith',
      CHART,
      '-n',
      ns,
      '--set',
      'installScope=namespaced',
      '--set',
      `namespaces={${served}}`,
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'metrics.prometheusRule.enabled=true',
      '--set',
      'verification.ingress.enabled=true',
      '--set',
      'verification.ingress.hosts={tokens.payments.example}',
      '--set',
      'crds.enabled=false',
    );
    const out = await apply('namespaced', yaml, true);
    for (const object of [
      'servicemonitor.monitoring.coreos.com/tokensmith',
      'prometheusrule.monitoring.coreos.com/tokensmith',
      'ingress.networking.k8s.io/tokensmith',
      'role.rbac.authorization.k8s.io/tokensmith-controller',
      'clusterrole.rbac.authorization.k8s.io/tokensmith-tokenreview',
    ]) {
      expect(out).toContain(object);
    }
    expect(out).not.toContain('clusterrole.rbac.authorization.k8s.io/tokensmith-controller');
    expect(yaml).not.toContain('kind: CustomResourceDefinition');
    expect(yaml).toContain('--install-scope=namespaced');
    expect(yaml).toContain(`--namespace=${served}`);
  });

  it('runs the controller as deploy/ does: the same flags, ports, probes, volumes and security', async () => {
    type Container = {
      args: string[];
      ports: unknown;
      readinessProbe: unknown;
      livenessProbe: unknown;
      resources: unknown;
      securityContext: unknown;
      volumeMounts: { name: string; mountPath: string }[];
    };
    const containerOf = (text: string) => {
      const docs = parseAllDocuments(text).map(
        (d) => d.toJS() as { kind?: string; spec?: { template: { spec: { containers: Container[] } } } },
      );
      const deployment = docs.find((d) => d.kind === 'Deployment');
      const container = deployment?.spec?.template.spec.containers[0];
      if (!container) throw new Error('no Deployment');
      return container;
    };
    const fromDeploy = containerOf(
      readFileSync(join(REPO_ROOT, 'deploy', 'base', 'deployment.yaml'), 'utf8'),
    );
    const fromChart = containerOf(await helm('template', 'tokensmith', CHART, '-n', 'tokensmith-system'));
    // Every flag deploy/ sets, the chart sets alike (it spells out the defaults too).
    for (const arg of fromDeploy.args) expect(fromChart.args, arg).toContain(arg);
    for (const field of [
      'ports',
      'readinessProbe',
      'livenessProbe',
      'resources',
      'securityContext',
    ] as const) {
      expect(fromChart[field], field).toEqual(fromDeploy[field]);
    }
    const mounts = (c: Container) => c.volumeMounts.map((m) => `${m.name} ${m.mountPath}`).sort();
    // The chart mounts the Vault CA only when told its ConfigMap (deploy/ mounts an optional one).
    expect(mounts(fromDeploy).filter((m) => !m.startsWith('vault-ca '))).toEqual(mounts(fromChart));
  });

  it('grants its ServiceAccount exactly what deploy/ grants, cluster-wide', async () => {
    const fromDeploy = await createNamespace('rbac-deploy');
    const fromChart = await createNamespace('rbac-chart');
    const served = await createNamespace('rbac-served');
    const deployRbac = readFileSync(join(REPO_ROOT, 'deploy', 'base', 'rbac.yaml'), 'utf8').replaceAll(
      'tokensmith-system',
      fromDeploy,
    );
    await apply('deploy-rbac', rbacOnly(deployRbac, fromDeploy), false);
    await apply(
      'chart-rbac',
      rbacOnly(await helm('template', 'tokensmith', CHART, '-n', fromChart), fromChart),
      false,
    );
    const expected = await matrix(fromDeploy, served, other);
    expect(expected.filter((a) => a.endsWith(': yes')).length).toBeGreaterThan(8);
    expect(expected.filter((a) => a.endsWith(': no')).length).toBeGreaterThan(5);
    expect(await matrix(fromChart, served, other)).toEqual(expected);
  });

  it('grants its ServiceAccount exactly what deploy/namespaced grants, in namespaced mode', async () => {
    const fromDeploy = await createNamespace('rbacns-deploy');
    const fromChart = await createNamespace('rbacns-chart');
    const served = await createNamespace('rbacns-served');
    const overlay = (await kubectl('kustomize', join(REPO_ROOT, 'deploy', 'namespaced')))
      .replaceAll('tokensmith-system', fromDeploy)
      .replaceAll('payments', served);
    await apply('deploy-ns-rbac', rbacOnly(overlay, fromDeploy), false);
    const chart = await helm(
      'template',
      'tokensmith',
      CHART,
      '-n',
      fromChart,
      '--set',
      'installScope=namespaced',
      '--set',
      `namespaces={${served}}`,
    );
    await apply('chart-ns-rbac', rbacOnly(chart, fromChart), false);
    const expected = await matrix(fromDeploy, served, other);
    expect(expected).toContainEqual('list clustertokenissuers.tokensmith.dev: no');
    expect(await matrix(fromChart, served, other)).toEqual(expected);
  });
});
