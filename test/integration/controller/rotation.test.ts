/**
 * The token lifecycle against the real servers, with the controller's clock running 120 times
 * faster than real time (TTL 10m ≈ 5 s): rotation again and again, the overlap, the Secret always
 * valid, manual rotate and revoke, workload restarts, and overdue rotations after downtime.
 */
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../../../src/core/fingerprint.ts';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import { AcceleratedClock } from '../../support/acceleratedClock.ts';
import { adminKubeConfig, createNamespace, vaultClient } from '../../support/environment.ts';
import {
  enableEngine,
  startTestOperator,
  testConfig,
  waitForReconciled,
  type TestOperator,
} from '../../support/operator.ts';
import {
  annotateObject,
  createReadyClusterIssuer,
  createPolicy,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { onIssuer, overlap, schedule, tokenPolicy, ttl } from '../../support/policies.ts';

const MINUTE = 60_000;
let namespace: string;
let issuer: string;
let transitMount: string;
let operator: TestOperator;
const clock = new AcceleratedClock(120);

async function record(name: string): Promise<PolicyTokenRecord> {
  const path = `secret/data/${operator.config.vault.pathPrefix}/cluster/${issuer}/policies/${namespace}/${name}`;
  return ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
}

async function eventNotes(name: string): Promise<string[]> {
  const events = await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return events.items.map((e) => `${e.reason ?? ''}: ${e.message ?? ''}`);
}

beforeAll(async () => {
  namespace = await createNamespace('rotation');
  transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount }), clock);
  issuer = await createReadyClusterIssuer('rotation', transitMount);
});

afterAll(async () => {
  await operator.stop();
});

describe('rotation', () => {
  it(
    'rotates before expiry again and again; the Secret always holds a token Vault knows is valid',
    { timeout: 90_000 },
    async () => {
      await createPolicy(namespace, 'short', {
        issuerRef: { name: issuer },
        token: { type: 'opaque', ttl: '10m' },
        rotation: { renewBefore: '5m', overlap: '2m', historyLimit: 4 },
        secret: { name: 'short', keys: { previous: 'PREVIOUS_TOKEN' } },
      });
      await waitForPolicy(namespace, 'short', 'True/Issued');

      // The checker: read the Secret, then Vault (which is never behind the Secret).
      const seen = new Map<string, number>();
      let previousSeen = 0;
      const violations: string[] = [];
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        // Vault before the Secret for the previous token (it leaves the Secret before it is revoked),
        // the Secret before Vault for the current one (it is recorded before it reaches the Secret).
        const recBefore = await record('short');
        const data = await secretData(namespace, 'short');
        const token = data?.TOKEN ?? '';
        const rec = await record('short');
        if (data?.PREVIOUS_TOKEN !== undefined) {
          // The previous token is delivered during its overlap only, never once revoked.
          const previous = recBefore.versions.find(
            (v) => v.tokenHash === tokenHash(data.PREVIOUS_TOKEN ?? ''),
          );
          if (previous?.state !== 'retiring' && previous?.state !== 'active') {
            violations.push(
              `PREVIOUS_TOKEN holds a version in state ${previous?.state ?? 'unknown to Vault'}`,
            );
          }
          previousSeen++;
        }
        const version = rec.versions.find((v) => v.tokenHash === tokenHash(token));
        const now = clock.now().getTime();
        if (!version) violations.push(`Secret holds a token Vault does not record`);
        else {
          seen.set(version.fingerprint, version.version);
          if (version.state === 'revoked') violations.push(`Secret holds revoked version ${version.version}`);
          if (Date.parse(version.expiresAt) <= now)
            violations.push(`Secret holds expired version ${version.version}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(violations).toEqual([]);
      expect(previousSeen).toBeGreaterThan(0);
      expect(seen.size).toBeGreaterThanOrEqual(4); // a rotation every ~5 fast minutes ≈ 2.5 s

      const final = await record('short');
      const overlapEnded = final.versions.filter((v) => v.revokeReason === 'OverlapEnded');
      expect(overlapEnded.length).toBeGreaterThan(0);
      for (const v of overlapEnded) {
        // Revoked only after its overlap since the next version was published.
        expect(Date.parse(v.revokedAt ?? '') - Date.parse(v.retiringSince ?? '')).toBeGreaterThanOrEqual(
          2 * MINUTE,
        );
      }
      expect(final.versions.length).toBeLessThanOrEqual(4 + 1); // historyLimit bounds what Vault keeps
      expect(final.lastVersion).toBeGreaterThanOrEqual(4);
      // The status follows the record within the reconcile (the record names a version current
      // from its first write, before the Secret and the status have it).
      await expect
        .poll(async () => (await readPolicy(namespace, 'short'))?.status?.versions?.[0], { timeout: 5_000 })
        .toMatchObject({ version: final.currentVersion, state: 'active', mintReason: 'Renewal' });
      expect((await eventNotes('short')).some((n) => n.startsWith('Rotated: token version'))).toBe(true);
    },
  );

  it('rotates once per value of the rotate annotation', async () => {
    await createPolicy(namespace, tokenPolicy('manual', onIssuer(issuer), ttl('24h')));
    await waitForPolicy(namespace, 'manual', 'True/Issued');
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'manual' },
      { 'tokensmith.dev/rotate': '1' },
    );
    // The rotation is done when the previous version is revoked: the record names version 2
    // current from its first write, before the Secret holds it.
    await expect
      .poll(async () => (await record('manual')).versions.find((v) => v.version === 1)?.state, {
        timeout: 15_000,
      })
      .toBe('revoked');
    const rec = await record('manual');
    // Without an overlap, the previous version is revoked as soon as the new one is published.
    expect(rec.versions.map((v) => [v.version, v.state, v.mintReason, v.revokeReason])).toEqual([
      [1, 'revoked', 'Initial', 'OverlapEnded'],
      [2, 'active', 'Requested', undefined],
    ]);
    expect(rec.handled?.rotate).toBe('1');
    // The same value again (a relabel, a restart of the operator…) does nothing.
    await annotateObject({ plural: 'tokenpolicies', namespace, name: 'manual' }, { unrelated: 'change' });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await record('manual')).lastVersion).toBe(2);
    await expect
      .poll(async () => (await readPolicy(namespace, 'manual'))?.status?.handledRequests?.rotate)
      .toBe('1');
  });

  it('revokes a compromised token at once, after publishing its replacement', async () => {
    await createPolicy(namespace, tokenPolicy('leaked', onIssuer(issuer), ttl('24h'), overlap('1h')));
    await waitForPolicy(namespace, 'leaked', 'True/Issued');
    const leaked = (await secretData(namespace, 'leaked'))?.TOKEN;
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'leaked' },
      { 'tokensmith.dev/revoke': 'current:incident-42' },
    );
    await expect.poll(async () => (await record('leaked')).currentVersion, { timeout: 15_000 }).toBe(2);
    const rec = await record('leaked');
    // No overlap for a compromised token, despite rotation.overlap: 1h.
    expect(rec.versions.map((v) => [v.version, v.state, v.revokeReason])).toEqual([
      [1, 'revoked', 'Compromised'],
      [2, 'active', undefined],
    ]);
    const fresh = (await secretData(namespace, 'leaked'))?.TOKEN;
    expect(fresh).not.toBe(leaked);
    expect(rec.versions[1]?.tokenHash).toBe(tokenHash(fresh ?? ''));
    await expect
      .poll(
        async () =>
          (await readPolicy(namespace, 'leaked'))?.status?.versions?.find((v) => v.version === 1)
            ?.revokeReason,
      )
      .toBe('Compromised');
    expect(await eventNotes('leaked')).toContain(
      'Rotated: token version 2 published to the Secret (Compromised); version 1 revoked at once',
    );
  });

  it('restarts the named Deployment once per rotation', async () => {
    const apps = adminKubeConfig().makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'consumer' },
        spec: {
          selector: { matchLabels: { app: 'consumer' } },
          template: {
            metadata: { labels: { app: 'consumer' } },
            spec: {
              containers: [{ name: 'c', image: 'busybox', envFrom: [{ secretRef: { name: 'restarting' } }] }],
            },
          },
        },
      },
    });
    await createPolicy(namespace, 'restarting', {
      issuerRef: { name: issuer },
      token: { type: 'opaque', ttl: '24h' },
      secret: { name: 'restarting' },
      workloads: [{ kind: 'Deployment', name: 'consumer' }],
    });
    await waitForPolicy(namespace, 'restarting', 'True/Issued');
    const annotationOf = async () =>
      (await apps.readNamespacedDeployment({ namespace, name: 'consumer' })).spec?.template.metadata
        ?.annotations?.['token.tokensmith.dev/restarting'];
    await expect
      .poll(annotationOf, { timeout: 10_000 })
      .toBe((await record('restarting')).versions[0]?.fingerprint);
    const generationBefore = (await apps.readNamespacedDeployment({ namespace, name: 'consumer' })).metadata
      ?.generation;

    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'restarting' },
      { 'tokensmith.dev/rotate': 'a' },
    );
    await expect.poll(async () => (await record('restarting')).currentVersion, { timeout: 15_000 }).toBe(2);
    const v2 = (await record('restarting')).versions.find((v) => v.version === 2)?.fingerprint;
    await expect.poll(annotationOf, { timeout: 10_000 }).toBe(v2);
    // A further reconcile (any change to the policy) does not restart it again.
    const mark = operator.logs().length;
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'restarting' },
      { 'example.com/poke': '1' },
    );
    await waitForReconciled(operator, { namespace, name: 'restarting' }, { version: 2, since: mark });
    const generationAfter = (await apps.readNamespacedDeployment({ namespace, name: 'consumer' })).metadata
      ?.generation;
    expect((generationAfter ?? 0) - (generationBefore ?? 0)).toBe(1);
    expect((await eventNotes('restarting')).filter((n) => n.startsWith('WorkloadRestarted'))).toEqual([
      'WorkloadRestarted: restarted Deployment consumer for token version 1',
      'WorkloadRestarted: restarted Deployment consumer for token version 2',
    ]);
  });
});

describe('downtime', () => {
  it('does overdue scheduled rotations once at start-up', { timeout: 60_000 }, async () => {
    await createPolicy(
      namespace,
      tokenPolicy('scheduled', onIssuer(issuer), ttl('24h'), schedule('0 * * * *')),
    );
    await waitForPolicy(namespace, 'scheduled', 'True/Issued');
    const before = (await record('scheduled')).lastVersion;
    await operator.stop();

    // Three hours of downtime: three fire times missed, one rotation owed.
    const later = new AcceleratedClock(1);
    later.jump(clock.now().getTime() - Date.now() + 3 * 60 * MINUTE);
    operator = await startTestOperator(operator.config, later);
    await expect
      .poll(async () => (await record('scheduled')).lastVersion, { timeout: 15_000 })
      .toBe(before + 1);
    const rec = await record('scheduled');
    expect(rec.versions.at(-1)?.mintReason).toBe('Scheduled');
    const handled = Date.parse(rec.handled?.schedule ?? '');
    expect(later.now().getTime() - handled).toBeLessThan(60 * MINUTE); // the latest missed fire time

    // Another restart at the same time rotates nothing more: the new process reconciles the policy
    // to the end with the same version current.
    await operator.stop();
    operator = await startTestOperator(operator.config, later);
    await waitForReconciled(operator, { namespace, name: 'scheduled' }, { version: before + 1 });
    expect((await record('scheduled')).lastVersion).toBe(before + 1);
  });
});
