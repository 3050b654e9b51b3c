/**
 * 200 policies applied at once all become Ready, each with a correct Secret. The time taken is
 * printed as a figure for the README; it is not asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../../../src/core/fingerprint.ts';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import { createNamespace, vaultClient } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createReadyClusterIssuer,
  createPolicy,
  customObjects,
  secretData,
} from '../../support/resources.ts';

const POLICIES = 200;
let namespace: string;
let issuer: string;
let operator: TestOperator;

beforeAll(async () => {
  namespace = await createNamespace('scale');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount, concurrency: 8 }));
  issuer = await createReadyClusterIssuer('scale', transitMount);
});

afterAll(async () => {
  await operator.stop();
});

async function readyCount(): Promise<number> {
  const list = (await customObjects().listNamespacedCustomObject({
    group: 'tokensmith.dev',
    version: 'v1alpha1',
    namespace,
    plural: 'tokenpolicies',
  })) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
  return list.items.filter((p) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  ).length;
}

describe('scale', () => {
  it(`issues ${POLICIES} policies created at once`, { timeout: 300_000 }, async () => {
    const started = performance.now();
    const names = Array.from({ length: POLICIES }, (_, i) => `p-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(
        names.slice(i, i + 25).map((name, j) =>
          createPolicy(namespace, name, {
            issuerRef: { name: issuer },
            token:
              (i + j) % 2 === 0
                ? { type: 'opaque', ttl: '1h' }
                : { type: 'jwt', jwt: { audience: ['scale-api'] }, ttl: '1h' },
            secret: { name: `${name}-token` },
          }),
        ),
      );
    }
    const created = performance.now();
    await expect.poll(readyCount, { timeout: 240_000, interval: 250 }).toBe(POLICIES);
    const ready = performance.now();
    console.log(
      `[scale] ${POLICIES} policies: created in ${((created - started) / 1000).toFixed(1)}s, ` +
        `all Ready ${((ready - started) / 1000).toFixed(1)}s after the first create ` +
        `(${(POLICIES / ((ready - started) / 1000)).toFixed(1)} policies/s)`,
    );

    const vault = vaultClient();
    const prefix = `secret/data/${operator.config.vault.pathPrefix}/cluster/${issuer}/policies/${namespace}`;
    for (const name of names) {
      const token = (await secretData(namespace, `${name}-token`))?.TOKEN ?? '';
      const record = ((await vault.read(`${prefix}/${name}`)) as { data: { data: PolicyTokenRecord } }).data
        .data;
      const current = record.versions.find((v) => v.version === record.currentVersion);
      expect(current?.tokenHash, name).toBe(tokenHash(token));
      expect(current?.state, name).toBe('active');
    }
  });
});
