/**
 * The container tier: the tokensmith image (built from the Dockerfile by scripts/build-image.ts)
 * run through testcontainers — on podman's Docker-compatible API here — against the test servers,
 * as the deployed ServiceAccount (deploy/base/rbac.yaml's RBAC only), with a read-only root
 * filesystem, every capability dropped and no new privileges: it issues a token, `/readyz` and
 * `/metrics` answer, it runs as uid 65532, and SIGTERM stops it cleanly (exit 0).
 *
 * Needs podman (apt-get install podman runc mmdebstrap). On a machine without it this tier is
 * skipped with one line saying so; everything else in the suite still runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../env/settings.ts';
import { freePort } from '../env/ports.ts';
import { adminKubeConfig, bearerKubeConfig, createNamespace, environment } from '../support/environment.ts';
import { kubectl } from '../support/deployed.ts';
import { enableEngine } from '../support/operator.ts';
import { onIssuer, tokenPolicy } from '../support/policies.ts';
import {
  createClusterIssuer,
  issuerOwnerSelector,
  secretData,
  waitForIssuer,
  waitForPolicy,
  createPolicy,
  setIssuerOwner,
} from '../support/resources.ts';

const TAG = 'localhost/tokensmith:e2e';
const engine = spawnSync('podman', ['--version']).status === 0;
if (!engine) {
  console.log('container tier skipped: no podman on this machine (apt-get install podman runc mmdebstrap)');
}

let system: string;
let served: string;
let service: ChildProcess | undefined;
let container: StartedTestContainer | undefined;
let metricsPort: number;
let issuer: string;

function started(): StartedTestContainer {
  if (!container) throw new Error('the container did not start');
  return container;
}

describe.skipIf(!engine)('the tokensmith image', () => {
  beforeAll(async () => {
    // The image, from this checkout (cached bases: a few seconds).
    const build = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-image.ts'), '--tag', TAG], {
      encoding: 'utf8',
    });
    if (build.status !== 0) throw new Error(`the image did not build:\n${build.stderr}`);
    console.log(build.stdout.trim());

    // podman's Docker-compatible API, for testcontainers (Ryuk cannot be pulled: we clean up).
    const dir = mkdtempSync(join(tmpdir(), 'tokensmith-image-e2e-'));
    const socket = join(dir, 'podman.sock');
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    process.env.DOCKER_HOST = `unix://${socket}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

    // The deployed ServiceAccount with exactly deploy/base/rbac.yaml, in a namespace of this file.
    system = await createNamespace('ts-image');
    served = await createNamespace('ts-image-served');
    setIssuerOwner(system);
    // Its namespace replaced by this file's, and the cluster-wide names made this file's own.
    const rbac = readFileSync(join(REPO_ROOT, 'deploy', 'base', 'rbac.yaml'), 'utf8')
      .replaceAll('tokensmith-system', system)
      .replaceAll('name: tokensmith-controller', `name: tokensmith-controller-${system}`);
    const rbacFile = join(dir, 'rbac.yaml');
    writeFileSync(rbacFile, rbac);
    await kubectl('apply', '-f', rbacFile);
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const token =
      (
        await core.createNamespacedServiceAccountToken({
          namespace: system,
          name: 'tokensmith',
          body: { spec: { audiences: [], expirationSeconds: 3600 } },
        })
      ).status?.token ?? '';
    const env = environment();
    writeFileSync(join(dir, 'kubeconfig'), bearerKubeConfig(token).exportConfig());
    writeFileSync(join(dir, 'vault-ca.crt'), readFileSync(env.vaultCaCertPath));
    spawnSync('chmod', ['-R', 'a+rX', dir]);

    const transitMount = await enableEngine('transit', 'transit');
    metricsPort = await freePort();
    const { GenericContainer, Wait } = await import('testcontainers');
    /** GenericContainer with a read-only root filesystem (no builder method for it). */
    class ReadOnlyContainer extends GenericContainer {
      constructor(image: string) {
        super(image);
        this.createOpts.HostConfig = { ...this.createOpts.HostConfig, ReadonlyRootfs: true };
      }
    }
    container = await new ReadOnlyContainer(TAG)
      .withNetworkMode('host')
      .withUser('65532:65532')
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withAutoRemove(false)
      .withBindMounts([{ source: dir, target: '/config', mode: 'ro' }])
      .withEnvironment({ VAULT_TOKEN: env.vaultToken })
      .withCommand([
        'run',
        '--kubeconfig=/config/kubeconfig',
        `--vault-address=${env.vaultAddress}`,
        '--vault-ca-cert=/config/vault-ca.crt',
        `--vault-transit-mount=${transitMount}`,
        `--namespace=${served}`,
        `--cluster-resource-namespace=${system}`,
        `--cluster-issuer-selector=${issuerOwnerSelector(system)}`,
        `--metrics-port=${metricsPort}`,
      ])
      .withWaitStrategy(Wait.forLogMessage(/"msg":"caches synced"/))
      .withStartupTimeout(60_000)
      .start();
    issuer = `image-${system}`;
    await createClusterIssuer(issuer, { issuer: 'https://tokens.image.example', signing: { transitMount } });
    await waitForIssuer(issuer, 'True/KeyReady', 30_000);
  }, 240_000);

  afterAll(async () => {
    service?.kill('SIGTERM');
    if (container) spawnSync('podman', ['rm', '-f', container.getId()]);
    spawnSync('podman', ['rmi', TAG]);
    await kubectl(
      'delete',
      'clusterrole,clusterrolebinding',
      `tokensmith-controller-${system}`,
      '--ignore-not-found',
    );
  });

  it('issues a token as the deployed ServiceAccount, read-only and not as root', async () => {
    await createPolicy(served, tokenPolicy('from-image', onIssuer(issuer)));
    await waitForPolicy(served, 'from-image', 'True/Issued');
    expect((await secretData(served, 'from-image'))?.TOKEN?.length).toBeGreaterThan(20);
    expect((await started().exec(['id', '-u'])).output.trim()).toBe('65532');
    // Nothing can be written outside its volumes: the root filesystem is read-only.
    const write = await started().exec(['sh', '-c', 'echo x > /app/x']);
    expect(write.exitCode).not.toBe(0);
  });

  it('answers /readyz and /metrics', async () => {
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain(
      `tokensmith_token_expiration_timestamp_seconds{namespace="${served}",name="from-image"`,
    );
    expect(metrics).toContain('tokensmith_process_resident_memory_bytes');
  });

  it('stops cleanly on SIGTERM', async () => {
    await started().stop({ timeout: 20_000, remove: false });
    const exit = spawnSync('podman', ['inspect', started().getId(), '--format', '{{.State.ExitCode}}'], {
      encoding: 'utf8',
    });
    expect(exit.stdout.trim()).toBe('0');
  });
});
