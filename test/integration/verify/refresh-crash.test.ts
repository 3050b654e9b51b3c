/**
 * A crash of the token endpoint between recording an exchange in Vault and answering: the
 * controller is its own process, killed with SIGKILL right after the record write
 * (TOKENSMITH_FAULT_INJECTION=exchange-recorded). The exchanged pair was recorded (the grant in
 * Vault holds it), so no valid token exists that Vault does not know; the client never got it
 * and retries with the same refresh token a second later on the other replica, which is the one
 * retry the grace allows: it gets a new pair, and the recorded pair it never received is revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import {
  startController,
  stopAllControllers,
  type ControllerProcess,
} from '../../support/controllerProcess.ts';
import { createNamespace, vaultClient } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import { onIssuer, tokenPolicy, withRefresh } from '../../support/policies.ts';
import {
  createPolicy,
  createReadyClusterIssuer,
  secretData,
  waitForPolicy,
  waitUntil,
} from '../../support/resources.ts';
import { freePort } from '../../env/ports.ts';
import {
  httpsCall,
  introspectAt,
  serviceAccountToken,
  verifyConfig,
  verifyTls,
  type VerifyTls,
} from '../../support/verifyServer.ts';

let namespace: string;
let tls: VerifyTls;
let issuer: string;
let leader: TestOperator;
let crashing: ControllerProcess;
let crashingPort: number;
let client: string;

const redeem = (port: number, refreshToken: string) =>
  httpsCall(port, tls.caPem, `/issuers/cluster/${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${client}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
  });

beforeAll(async () => {
  namespace = await createNamespace('refresh-crash');
  tls = await verifyTls();
  const transitMount = await enableEngine('transit', 'transit');
  const config = testConfig({ namespace, transitMount });
  leader = await startTestOperator({
    ...config,
    leaderElection: { enabled: true, namespace, name: 'tokensmith-controller', identity: 'leader' },
    verify: verifyConfig(tls, 1000),
  });
  issuer = await createReadyClusterIssuer('refresh-crash', transitMount);
  client = await serviceAccountToken(namespace, 'orders-api', 'tokensmith');
  crashingPort = await freePort();
  crashing = startController({
    namespaces: [namespace],
    clusterResourceNamespace: namespace,
    faultInjection: 'exchange-recorded',
    leaderElectionNamespace: namespace,
    extraArgs: [
      `--vault-path-prefix=${config.vault.pathPrefix}`,
      `--vault-transit-mount=${transitMount}`,
      `--verify-port=${crashingPort}`,
      `--tls-cert-file=${tls.certFile}`,
      `--tls-key-file=${tls.keyFile}`,
    ],
  });
  await waitUntil(
    'the crashing replica serves',
    async () => (await httpsCall(crashingPort, tls.caPem, '/readyz').catch(() => undefined))?.status,
    200,
  );
}, 60_000);

afterAll(async () => {
  await leader.stop();
  await stopAllControllers();
});

describe('a crash between recording an exchange and answering', () => {
  it('leaves no unrecorded valid token, and the client retries once with the same refresh token', async () => {
    await createPolicy(namespace, tokenPolicy('crashed', onIssuer(issuer), withRefresh()));
    await waitForPolicy(namespace, 'crashed', 'True/Issued');
    const refresh = (await secretData(namespace, 'crashed'))?.REFRESH_TOKEN ?? '';

    // The follower records the exchange, then dies before it answers.
    await expect(redeem(crashingPort, refresh)).rejects.toThrow();
    expect(await crashing.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const path = `secret/data/${leader.config.vault.pathPrefix}/cluster/${issuer}/policies/${namespace}/crashed`;
    const recorded = ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
    const grant = recorded.versions.find((v) => v.version === 1)?.grant;
    expect(grant?.tokens.map((t) => t.generation)).toEqual([1]);
    expect(grant?.refresh.map((r) => [r.generation, r.spentAt !== undefined])).toEqual([
      [0, true],
      [1, false],
    ]);

    // A second later the client tries again, on the replica that is still up.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const port = (await leader.operator.verifyServer)?.port ?? 0;
    const again = await redeem(port, refresh);
    expect(again.status).toBe(200);
    const answer = JSON.parse(again.body) as { access_token: string; refresh_token: string };
    const introspected = await introspectAt(
      port,
      tls.caPem,
      `/issuers/cluster/${issuer}/introspect`,
      client,
      answer.access_token,
    );
    expect(JSON.parse(introspected.body)).toMatchObject({ active: true, token_use: 'access_token' });
    const after = ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
    const tokens = after.versions.find((v) => v.version === 1)?.grant?.tokens ?? [];
    // The pair the crashed replica recorded and never delivered is revoked; the new one is live.
    expect(tokens.map((t) => [t.generation, t.revokedAt !== undefined])).toEqual([
      [1, true],
      [2, false],
    ]);
  });
});
