/**
 * The metrics and probe endpoint against the real servers: /metrics has the expiry and renewal
 * gauges equal to the policy's status, its Ready status, the issuer's key rotation times, rotation
 * and revocation counters that move with a rotation and a revoke, reconcile, work-queue, Vault and
 * leader metrics — and no secret material; /readyz and /healthz answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import { createNamespace } from '../../support/environment.ts';
import { onIssuer, tokenPolicy, withRefresh } from '../../support/policies.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  readClusterIssuer,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';

let namespace: string;
let operator: TestOperator;
let port: number;
let issuer: string;

const scrape = async (path = '/metrics') => {
  const answer = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: answer.status, text: await answer.text() };
};

/** The value of the first sample of `name` whose labels include every `labels` pair. */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const line = (await scrape()).text
    .split('\n')
    .find(
      (l) =>
        (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) &&
        Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

beforeAll(async () => {
  namespace = await createNamespace('metrics');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator({ ...testConfig({ namespace, transitMount }), metrics: { port: 0 } });
  port = (await operator.operator.metricsServer)?.port ?? 0;
  issuer = await createReadyClusterIssuer('metrics', transitMount);
}, 60_000);

afterAll(async () => {
  await operator.stop();
});

describe('the metrics endpoint', () => {
  it('answers the probes', async () => {
    expect(await scrape('/readyz')).toEqual({ status: 200, text: 'ok\n' });
    expect(await scrape('/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await scrape('/other')).status).toBe(404);
  });

  it('shows each token expiry and renewal as the status says, and the Ready status', async () => {
    await createPolicy(namespace, tokenPolicy('gauged', onIssuer(issuer)));
    const policy = await waitForPolicy(namespace, 'gauged', 'True/Issued');
    const labels = { namespace, name: 'gauged', issuer_kind: 'ClusterTokenIssuer', issuer_name: issuer };
    expect(await sample('tokensmith_token_expiration_timestamp_seconds', labels)).toBe(
      Date.parse(policy.status?.expiresAt ?? '') / 1000,
    );
    expect(await sample('tokensmith_token_renewal_timestamp_seconds', labels)).toBe(
      Date.parse(policy.status?.nextRotationAt ?? '') / 1000,
    );
    expect(await sample('tokensmith_tokenpolicy_ready_status', { ...labels, condition: 'True' })).toBe(1);
    expect(await sample('tokensmith_tokenpolicy_ready_status', { ...labels, condition: 'False' })).toBe(0);
    const cluster = await readClusterIssuer(issuer);
    const active = cluster.status?.keys?.find((k) => k.kid === cluster.status?.activeKid);
    expect(
      await sample('tokensmith_issuer_key_created_timestamp_seconds', {
        kind: 'ClusterTokenIssuer',
        name: issuer,
      }),
    ).toBe(Date.parse(active?.createdAt ?? '') / 1000);
    expect(
      await sample('tokensmith_issuer_next_key_rotation_timestamp_seconds', {
        kind: 'ClusterTokenIssuer',
        name: issuer,
      }),
    ).toBe(Date.parse(cluster.status?.nextKeyRotationAt ?? '') / 1000);
  });

  it('counts rotations and revocations as they happen, and the work behind them', async () => {
    await createPolicy(namespace, tokenPolicy('counted', onIssuer(issuer), withRefresh()));
    await waitForPolicy(namespace, 'counted', 'True/Issued');
    const requested = (await sample('tokensmith_rotations_total', { reason: 'Requested' })) ?? 0;
    const compromised = (await sample('tokensmith_revocations_total', { reason: 'Compromised' })) ?? 0;
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'counted' },
      { 'tokensmith.dev/rotate': 'one' },
    );
    await expect
      .poll(() => sample('tokensmith_rotations_total', { reason: 'Requested' }), { timeout: 15_000 })
      .toBe(requested + 1);
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'counted' },
      { 'tokensmith.dev/revoke': 'current' },
    );
    await expect
      .poll(() => sample('tokensmith_revocations_total', { reason: 'Compromised' }), { timeout: 15_000 })
      .toBe(compromised + 1);
    expect(await sample('tokensmith_rotations_total', { reason: 'Initial' })).toBeGreaterThanOrEqual(2);
    expect(
      await sample('tokensmith_controller_reconcile_total', { controller: 'tokenpolicy', result: 'success' }),
    ).toBeGreaterThan(0);
    expect(
      await sample('tokensmith_controller_reconcile_duration_seconds_count', { controller: 'tokenpolicy' }),
    ).toBeGreaterThan(0);
    expect(await sample('tokensmith_workqueue_depth', { name: 'tokenpolicy' })).toBeGreaterThanOrEqual(0);
    expect(
      await sample('tokensmith_workqueue_queue_duration_seconds_count', { name: 'tokenpolicy' }),
    ).toBeGreaterThan(0);
    expect(await sample('tokensmith_vault_requests_total', { code: '200' })).toBeGreaterThan(0);
    expect(await sample('tokensmith_vault_request_duration_seconds_count')).toBeGreaterThan(0);
    // Lists and watches (GET), the Secret applied (PATCH).
    expect(await sample('tokensmith_kube_requests_total', { method: 'GET' })).toBeGreaterThan(0);
    expect(await sample('tokensmith_kube_requests_total', { method: 'PATCH' })).toBeGreaterThan(0);
    expect(await sample('tokensmith_leader_election_status')).toBe(1);
    expect(await sample('tokensmith_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('carries no token, refresh token or key', async () => {
    const text = (await scrape()).text;
    for (const name of ['gauged', 'counted']) {
      for (const value of Object.values((await secretData(namespace, name)) ?? {})) {
        if (value.length > 16) expect(text).not.toContain(value);
      }
      const status = (await readPolicy(namespace, name))?.status;
      for (const v of status?.versions ?? []) expect(text).not.toContain(v.fingerprint.slice(7));
    }
  });
});
