/**
 * A namespace's own Vault turns slow after its tokens were issued, against the real servers. The
 * tenant's TokenIssuer reaches the real Vault through an HTTPS proxy in this test that can be
 * switched to trickle every response (a byte every 200 ms, never done). While it trickles and the
 * tenant's policies keep trying to rotate, another namespace's policy keeps rotating on the
 * platform's Vault (its own request budget, its own workers), the tenant's Secrets keep their
 * valid tokens, their status says why they cannot rotate, and once the proxy answers again they
 * rotate by themselves.
 */
import { request as httpsRequest, createServer } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCaptureServer, type CaptureServer } from '../../support/captureServer.ts';
import { environment, vaultCaPem } from '../../support/environment.ts';
import type { TestOperator } from '../../support/operator.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  createTokenIssuer,
  readPolicy,
  secretData,
  waitForIssuer,
  waitForPolicy,
} from '../../support/resources.ts';
import { createVaultTokenSecret, startTenantAndBystanders } from '../../support/tenants.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

const TENANT_POLICIES = 6;
let proxy: CaptureServer;
let proxyUrl: string;
let slow = false;
let tenant: string;
let bystanders: string;
let operator: TestOperator;

beforeAll(async () => {
  proxy = await startCaptureServer('slow-vault');
  const upstream = new URL(environment().vaultAddress);
  const ca = vaultCaPem();
  proxyUrl = await proxy.listen(
    createServer(proxy.tls, (req, res) => {
      if (slow) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => res.write(' '), 200);
        res.on('close', () => {
          clearInterval(timer);
        });
        return;
      }
      const forwarded = httpsRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: upstream.host },
          ca,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => res.destroy());
      req.pipe(forwarded);
    }),
  );

  ({ tenant, bystanders, operator } = await startTenantAndBystanders('slow'));
  await createVaultTokenSecret(tenant, 'own-vault', environment().vaultToken, 'own');
  const transitMount = operator.config.vault.transitMount;
  await createTokenIssuer(tenant, 'own', {
    issuer: 'https://tokens.slow-tenant.example',
    vault: {
      address: proxyUrl,
      caBundle: proxy.caPem,
      auth: { token: { secretRef: { name: 'own-vault' } } },
    },
    signing: { transitMount },
  });
  await waitForIssuer('own', 'True/KeyReady', 30_000, tenant);
  for (let i = 0; i < TENANT_POLICIES; i++) {
    await createPolicy(tenant, `p${i}`, {
      issuerRef: { name: 'own', kind: 'TokenIssuer' },
      token: { type: 'jwt', jwt: { audience: ['api'] }, ttl: '1h' },
      secret: { name: `p${i}` },
    });
  }
  for (let i = 0; i < TENANT_POLICIES; i++) await waitForPolicy(tenant, `p${i}`, 'True/Issued');
}, 90_000);

afterAll(async () => {
  await operator.stop();
  await proxy.close();
});

describe("a namespace's own Vault that turns slow after issuance", () => {
  it(
    'holds up neither other namespaces nor its own valid tokens, and recovers',
    { timeout: 120_000 },
    async () => {
      const healthy = await createReadyClusterIssuer('slow-bystander', operator.config.vault.transitMount);
      await createPolicy(bystanders, tokenPolicy('served', onIssuer(healthy)));
      await waitForPolicy(bystanders, 'served', 'True/Issued');
      const issued = await Promise.all(
        Array.from({ length: TENANT_POLICIES }, async (_, i) => (await secretData(tenant, `p${i}`))?.TOKEN),
      );

      slow = true;
      for (let i = 0; i < TENANT_POLICIES; i++) {
        await annotateObject(
          { plural: 'tokenpolicies', namespace: tenant, name: `p${i}` },
          { 'tokensmith.dev/rotate': 'while-slow' },
        );
      }
      for (let v = 2; v <= 4; v++) {
        await annotateObject(
          { plural: 'tokenpolicies', namespace: bystanders, name: 'served' },
          { 'tokensmith.dev/rotate': String(v) },
        );
        await expect
          .poll(async () => (await readPolicy(bystanders, 'served'))?.status?.currentVersion, {
            timeout: 15_000,
          })
          .toBe(v);
      }

      // Meanwhile the tenant's policies could not rotate, said why, and kept their tokens.
      await expect
        .poll(
          async () => {
            const ready = (await readPolicy(tenant, 'p0'))?.status?.conditions?.find(
              (c) => c.type === 'Ready',
            );
            return `${ready?.reason ?? ''}: ${ready?.message ?? ''}`;
          },
          { timeout: 30_000 },
        )
        .toMatch(/^VaultUnreachable: .*(did not answer|deadline)/);
      for (let i = 0; i < TENANT_POLICIES; i++) {
        expect((await readPolicy(tenant, `p${i}`))?.status?.currentVersion).toBe(1);
        expect((await secretData(tenant, `p${i}`))?.TOKEN).toBe(issued[i]);
      }

      // Answering again, the tenant's rotations go through on their own (breaker and backoff expire).
      slow = false;
      for (let i = 0; i < TENANT_POLICIES; i++) {
        await expect
          .poll(async () => (await readPolicy(tenant, `p${i}`))?.status?.currentVersion, { timeout: 60_000 })
          .toBe(2);
      }
      expect(operator.logs()).not.toContain(environment().vaultToken);
    },
  );
});
