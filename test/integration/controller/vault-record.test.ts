/**
 * The Vault record of a policy after someone else touched it, against the real servers. A record
 * whose latest version was soft-deleted in Vault (`vault kv delete`) reads as absent, but its path
 * still has that version: a first write with check-and-set 0 is refused forever, and the policy
 * used to wedge in CAS conflicts ("gave up after 12 steps"). Now the policy starts a fresh record
 * over the deleted one and is served again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultClient } from '../../support/environment.ts';
import { startInNamespace, type TestOperator } from '../../support/operator.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  policyReady,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

let namespace: string;
let operator: TestOperator;

beforeAll(async () => {
  ({ namespace, operator } = await startInNamespace('vault-record'));
});

afterAll(async () => {
  await operator.stop();
});

describe('a policy whose Vault record was soft-deleted', () => {
  it('starts a fresh record over it instead of wedging in CAS conflicts', async () => {
    const issuer = await createReadyClusterIssuer('soft-deleted', operator.config.vault.transitMount);
    await createPolicy(namespace, tokenPolicy('orders', onIssuer(issuer)));
    await waitForPolicy(namespace, 'orders', 'True/Issued');
    const before = (await secretData(namespace, 'orders'))?.TOKEN;
    const path = `${operator.config.vault.pathPrefix}/cluster/${issuer}/policies/${namespace}/orders`;
    await vaultClient().delete(`secret/data/${path}`);

    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'orders' },
      { 'tokensmith.dev/rotate': 'after-delete' },
    );
    await expect
      .poll(async () => (await secretData(namespace, 'orders'))?.TOKEN, { timeout: 20_000 })
      .not.toBe(before);
    expect(await policyReady(namespace, 'orders')).toBe('True/Issued');
    const metadata = (await vaultClient().read(`secret/metadata/${path}`)) as {
      data: { current_version: number; versions: Record<string, { deletion_time: string }> };
    };
    const current = metadata.data.versions[String(metadata.data.current_version)];
    expect(current?.deletion_time).toBe(''); // the new record is live; the deleted version stays deleted
    expect(operator.logs()).not.toContain('NotConverging');
  });
});
