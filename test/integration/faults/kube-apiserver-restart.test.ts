/**
 * The API server taken away mid-wave (issue 14): the controller runs as its own process against a
 * private control plane (etcd + kube-apiserver of this file's own: the shared one serves the other
 * test files). A rotation is asked of every policy; once the first rotations are recorded in Vault
 * kube-apiserver is SIGKILLed (watches break, writes in flight fail), kept down, and started again
 * on the same port with the same etcd; then the same with etcd stopped under a running API server. What must hold: the controller does not exit; each policy
 * rotates exactly once (versions Vault recorded while the API server was away are published, not
 * minted again); no Secret ever holds a token Vault did not record; the informers resume without a
 * restart of the process, so a policy created after the restart is issued. Times are printed.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { ControlPlane } from '../../env/controlPlane.ts';
import {
  startController,
  stopAllControllers,
  type ControllerProcess,
} from '../../support/controllerProcess.ts';
import { createNamespace, uniqueName } from '../../support/environment.ts';
import { startPrivateControlPlane } from '../../support/privateControlPlane.ts';
import {
  createClusterIssuer,
  createPolicy,
  readPolicy,
  setIssuerOwner,
  waitForIssuer,
  waitUntil,
} from '../../support/resources.ts';
import {
  askRotation,
  expectRotatedOnce,
  issueAll,
  waitRotated,
  waveRecord,
  type WaveTarget,
} from '../../support/rotationWave.ts';
import { watchSecretTokens } from '../../support/secretTokens.ts';

const POLICIES = 60;
const DOWN_MS = 8_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let plane: ControlPlane;
let systemNamespace: string;
let target: WaveTarget;
let controller: ControllerProcess;
const names = Array.from({ length: POLICIES }, (_, i) => `policy-${i}`);

beforeAll(async () => {
  plane = await startPrivateControlPlane();
  systemNamespace = await createNamespace('restart-system');
  const namespace = await createNamespace('restart');
  const issuer = uniqueName('restart');
  target = { namespace, issuer, kvMount: 'secret', pathPrefix: `tokensmith-restart/${issuer}` };
  setIssuerOwner(systemNamespace);
  await createClusterIssuer(issuer, {
    issuer: 'https://tokens.restart.example',
    vault: { mount: target.kvMount, pathPrefix: target.pathPrefix },
    signing: { backend: 'kv' },
  });
  controller = startController({
    namespaces: [namespace],
    clusterResourceNamespace: systemNamespace,
    kubeconfigPath: plane.kubeconfigPath,
    extraArgs: ['--metrics-port=0'],
  });
  await waitForIssuer(issuer, 'True/KeyReady', 60_000);
  await issueAll(target, names);
}, 180_000);

afterAll(async () => {
  await stopAllControllers();
  await plane.stop();
});

const KUBE_QPS = 20; // the controller's defaults, --kube-qps and --kube-burst
const KUBE_BURST = 40;

/** How many policies' status does not show `version` yet. */
async function unpublished(version: number): Promise<number> {
  const statuses = await Promise.all(names.map((n) => readPolicy(target.namespace, n)));
  return statuses.filter((p) => p?.status?.currentVersion !== version).length;
}

/**
 * Asks a rotation of every policy; once the first is recorded in Vault, takes a server away
 * (`away`) for DOWN_MS and brings it back (`back`). Checks the wave happened exactly once and the
 * process kept running; returns what to print.
 */
async function restartMidWave(
  request: string,
  version: number,
  away: () => Promise<void>,
  back: () => Promise<void>,
): Promise<string> {
  onTestFailed(() => {
    process.stderr.write(`\n--- controller ---\n${controller.tail(80)}\n`);
  });
  const secrets = watchSecretTokens(target.namespace);
  await askRotation(target, names, request);
  // Mid-wave: some rotations are recorded in Vault, most are not.
  let recordedBeforeKill = 0;
  await waitUntil(
    'the first rotation recorded',
    async () => {
      const records = await Promise.all(names.map((n) => waveRecord(target, n)));
      recordedBeforeKill = records.filter((r) => r?.lastVersion === version).length;
      return recordedBeforeKill > 0;
    },
    true,
    30_000,
  );
  await away();
  const killedAt = Date.now();
  await sleep(DOWN_MS);
  await back();
  const backAt = Date.now();
  const left = await unpublished(version);

  await waitRotated(target, names, request, version, 180_000);
  const waveDoneMs = Date.now() - backAt;

  // The watches resumed: a policy created now is issued by the same process.
  const lateName = `created-after-${request}`;
  const createdAt = Date.now();
  await createPolicy(target.namespace, lateName, {
    issuerRef: { name: target.issuer },
    token: { type: 'opaque', ttl: '24h' },
    secret: { name: `${lateName}-token` },
  });
  await waitUntil(
    'the policy created after the restart issued',
    async () => (await readPolicy(target.namespace, lateName))?.status?.currentVersion ?? 0,
    1,
    60_000,
  );
  const lateIssueMs = Date.now() - createdAt;

  const seen = await secrets.stop();
  await expectRotatedOnce(target, names, seen, version);
  // Every Secret came to hold the new version's token.
  for (const name of names) {
    const current = (await waveRecord(target, name))?.versions.find((v) => v.version === version);
    expect(current?.tokenHash, name).toBeDefined();
    expect(seen.get(name)?.has(current?.tokenHash ?? ''), name).toBe(true);
  }
  const state = await Promise.race([
    controller.exited.then(() => 'exited'),
    sleep(100).then(() => 'running'),
  ]);
  expect(state).toBe('running');
  // About 4 API requests publish a recorded rotation (Secret, status, Events) at --kube-qps.
  const floorS = Math.max(0, left * 4 - KUBE_BURST) / KUBE_QPS;
  return (
    `${recordedBeforeKill}/${POLICIES} rotations recorded when it went, down ${((backAt - killedAt) / 1000).toFixed(1)} s; ` +
    `${left} left to publish when it was back, done ${(waveDoneMs / 1000).toFixed(1)} s later ` +
    `(the --kube-qps=${KUBE_QPS} floor for them ≈ ${floorS.toFixed(1)} s at 4 requests each); a policy created then issued in ${(lateIssueMs / 1000).toFixed(1)} s; the controller kept running`
  );
}

describe('API server outages mid-wave', () => {
  it(
    'kube-apiserver SIGKILLed and restarted: no rotation lost or doubled, the watches resume without a restart',
    { timeout: 300_000 },
    async () => {
      const line = await restartMidWave(
        'kube-restart',
        2,
        () => plane.kube.server.stop({ kill: true }),
        () => plane.kube.server.start(),
      );
      console.log(`kube-apiserver killed mid-wave: ${line}`);
    },
  );

  it(
    'etcd stopped and restarted under a running kube-apiserver: the same',
    { timeout: 300_000 },
    async () => {
      const line = await restartMidWave(
        'etcd-restart',
        3,
        () => plane.etcd.server.stop(),
        () => plane.etcd.server.start(),
      );
      console.log(`etcd stopped mid-wave: ${line}`);
    },
  );

  it(
    'with leader election: a leader that cannot renew for longer than its renew deadline exits, and a new one leads once the API server is back',
    { timeout: 180_000 },
    async () => {
      const leases = await createNamespace('restart-leases');
      const own = await createNamespace('restart-elected');
      const start = () =>
        startController({
          namespaces: [own],
          clusterResourceNamespace: systemNamespace,
          kubeconfigPath: plane.kubeconfigPath,
          leaderElectionNamespace: leases,
          extraArgs: ['--metrics-port=0'],
        });
      const leader = start();
      onTestFailed(() => {
        process.stderr.write(`\n--- leader ---\n${leader.tail(40)}\n`);
      });
      await expect.poll(() => leader.output(), { timeout: 30_000 }).toContain('became leader');
      await plane.kube.server.stop({ kill: true });
      const downAt = Date.now();
      // The renew deadline is 10 s: the leader must stop acting (and exit) before 15 s, when another
      // replica could take the Lease.
      const exit = await leader.waitForExit(20_000);
      const exitedAfterMs = Date.now() - downAt;
      expect(exit.code).toBe(1);
      expect(leader.output()).toContain('could not renew the leader lease in time');
      expect(exitedAfterMs).toBeLessThan(15_000);
      await plane.kube.server.start();
      const backAt = Date.now();
      // What a Deployment does next: start it again. It leads once the old Lease has expired.
      const next = start();
      await expect.poll(() => next.output(), { timeout: 60_000 }).toContain('became leader');
      console.log(
        `leader election on: the leader exited ${(exitedAfterMs / 1000).toFixed(1)} s after the API server went (renew deadline 10 s, Lease 15 s); ` +
          `a new process led ${((Date.now() - backAt) / 1000).toFixed(1)} s after it was back`,
      );
      await next.stop();
    },
  );
});
