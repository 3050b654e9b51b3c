/**
 * The Vault record of a policy after someone else touched it, against the real servers. A record
 * edited by hand into something tokensmith cannot act on (garbage, fields missing, wrong types, a
 * version number reused) makes the policy Ready=False/VaultRecordInvalid naming the problem, and is
 * never overwritten; the controller keeps serving other policies. A record
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
  readPolicy,
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

describe('a policy whose Vault record was edited by hand into something tokensmith cannot act on', () => {
  const CASES: [string, (record: Record<string, unknown>) => Record<string, unknown>, RegExp][] = [
    ['garbage', () => ({ record: 'garbage' }), /policy \(namespace, name\) is missing/],
    [
      'fields missing',
      (r) => ({ policy: r.policy, issuer: r.issuer }),
      /currentVersion is not a whole number/,
    ],
    ['wrong types', (r) => ({ ...r, versions: 'v1' }), /versions is not a list/],
    [
      'a version number reused',
      (r) => {
        const versions = r.versions as Record<string, unknown>[];
        return { ...r, versions: [...versions, { ...versions[0], state: 'retiring' }] };
      },
      /version 1 appears twice/,
    ],
  ];

  it(
    'is Ready=False with the problem named, the record is left as it is, and other policies are served',
    { timeout: 90_000 },
    async () => {
      const issuer = await createReadyClusterIssuer('hand-edited', operator.config.vault.transitMount);
      const path = (name: string) =>
        `secret/data/${operator.config.vault.pathPrefix}/cluster/${issuer}/policies/${namespace}/${name}`;
      for (const [i] of CASES.entries())
        await createPolicy(namespace, tokenPolicy(`edited-${i}`, onIssuer(issuer)));
      for (const [i] of CASES.entries()) await waitForPolicy(namespace, `edited-${i}`, 'True/Issued');
      const tokens = new Map<number, string | undefined>();
      const written = new Map<number, Record<string, unknown>>();
      for (const [i, [, corrupt]] of CASES.entries()) {
        tokens.set(i, (await secretData(namespace, `edited-${i}`))?.TOKEN);
        const current = (await vaultClient().read(path(`edited-${i}`))) as {
          data: { data: Record<string, unknown> };
        };
        written.set(i, corrupt(current.data.data));
        await vaultClient().write(path(`edited-${i}`), { data: written.get(i) });
        await annotateObject(
          { plural: 'tokenpolicies', namespace, name: `edited-${i}` },
          { 'tokensmith.dev/rotate': 'after-edit' },
        );
      }
      for (const [i, [what, , problem]] of CASES.entries()) {
        const name = `edited-${i}`;
        await expect
          .poll(() => policyReady(namespace, name), { timeout: 20_000, message: what })
          .toBe('False/VaultRecordInvalid');
        const ready = (await readPolicy(namespace, name))?.status?.conditions?.find(
          (c) => c.type === 'Ready',
        );
        expect(ready?.message, what).toMatch(problem);
        expect(ready?.message, what).toMatch(/does not overwrite it/);
      }
      // A while later: nothing was rewritten, and the Secrets still hold their last good token.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      for (const [i, [what]] of CASES.entries()) {
        const name = `edited-${i}`;
        const metadata = (await vaultClient().read(path(name).replace('/data/', '/metadata/'))) as {
          data: { current_version: number };
        };
        expect(metadata.data.current_version, what).toBe(2); // ours (1), then the hand edit (2): no third
        const stored = (await vaultClient().read(path(name))) as { data: { data: unknown } };
        expect(stored.data.data, what).toEqual(written.get(i));
        expect((await secretData(namespace, name))?.TOKEN, what).toBe(tokens.get(i));
      }
      // The controller kept working: a new policy on the same issuer is issued.
      await createPolicy(namespace, tokenPolicy('after-edits', onIssuer(issuer)));
      await waitForPolicy(namespace, 'after-edits', 'True/Issued');
      for (const token of tokens.values()) expect(operator.logs()).not.toContain(token ?? '-');
    },
  );
});
