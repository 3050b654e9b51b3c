/**
 * More policies than one list page, against the real servers: the controller lists with a page
 * size of 5 and relists every 2 s, and after several relists it still knows every policy — a
 * deleted Secret of any of them is restored (drift correction), and when the renewal time of all
 * of them passes, every one rotates. Before paging read the JSON form of the continue token, a
 * relist kept the first page only and the rest were forgotten until edited.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShiftableClock } from '../../support/shiftableClock.ts';
import { adminKubeConfig, createNamespace } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createReadyClusterIssuer,
  createPolicy,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';

const PAGE = 5;
const POLICIES = 13; // three pages
const MINUTE = 60_000;
const names = Array.from({ length: POLICIES }, (_, i) => `paged-${String(i).padStart(2, '0')}`);
const clock = new ShiftableClock();
let namespace: string;
let issuer: string;
let operator: TestOperator;

/** The operator's log lines for lists of its TokenPolicy collection. */
function policyLists(): { objects: number; pages: number; relists: number }[] {
  return operator
    .logs()
    .split('\n')
    .filter((line) => line.includes('"listed the collection"') && line.includes('/tokenpolicies'))
    .map((line) => JSON.parse(line) as { objects: number; pages: number; relists: number });
}

beforeAll(async () => {
  namespace = await createNamespace('paging');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(
    testConfig({ namespace, transitMount, listPageSize: PAGE, relistIntervalMs: 2000 }),
    clock,
  );
  issuer = await createReadyClusterIssuer('paging', transitMount);
  for (const name of names) {
    await createPolicy(namespace, name, {
      issuerRef: { name: issuer },
      token: { type: 'opaque', ttl: '1h' },
      rotation: { renewBefore: '20m', overlap: '1m' },
      secret: { name },
    });
  }
  for (const name of names) await waitForPolicy(namespace, name, 'True/Issued');
});

afterAll(async () => {
  await operator.stop();
});

describe('more policies than one list page', () => {
  it(
    'keeps every policy after relists: Secrets restored, every renewal done',
    { timeout: 120_000 },
    async () => {
      const before = policyLists().length;
      await expect.poll(() => policyLists().length, { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 2);
      // Each relist read all three pages and found every policy.
      for (const list of policyLists().slice(before))
        expect(list).toMatchObject({ objects: POLICIES, pages: 3 });
      expect(operator.logs()).not.toContain('different number of objects');

      // Drift correction reaches every policy, past the first page too.
      const core = adminKubeConfig().makeApiClient(CoreV1Api);
      for (const name of names) await core.deleteNamespacedSecret({ namespace, name });
      await expect
        .poll(
          async () => (await Promise.all(names.map((n) => secretData(namespace, n)))).filter(Boolean).length,
          {
            timeout: 30_000,
          },
        )
        .toBe(POLICIES);

      // Renewal is due 40 minutes after issuance: every policy rotates, once.
      const versions = async () =>
        Promise.all(names.map(async (n) => (await readPolicy(namespace, n))?.status?.currentVersion));
      expect(await versions()).toEqual(names.map(() => 1));
      clock.advance(45 * MINUTE);
      await expect.poll(versions, { timeout: 60_000, interval: 500 }).toEqual(names.map(() => 2));
    },
  );
});
