/**
 * Revocation never waits for minting, against the real servers. What keeps a policy from minting
 * (a guardrail its issuer narrowed after an incident, an issuer that is not Ready) used to stop
 * every lifecycle step: `revoke=current` did nothing, overlaps never ended, and deleting the policy
 * hung on its finalizer. Now those steps run whatever state minting is in; the policy says why it
 * cannot mint. And an issuer edit that keeps it Ready does not flip its healthy policies' Ready.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import { vaultClient } from '../../support/environment.ts';
import { enableEngine, startInNamespace, type TestOperator } from '../../support/operator.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  deletePolicy,
  editClusterIssuer,
  eventsAbout,
  policyReady,
  readClusterIssuer,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

let namespace: string;
let operator: TestOperator;

beforeAll(async () => {
  ({ namespace, operator } = await startInNamespace('unblocked'));
});

afterAll(async () => {
  await operator.stop();
});

const versionStates = async (name: string) =>
  (await readPolicy(namespace, name))?.status?.versions?.map((v) => `${v.version}:${v.state}`).sort() ?? [];

/** The policy's record in Vault, read with the root token. */
async function vaultRecord(issuer: string, name: string): Promise<PolicyTokenRecord | undefined> {
  const path = `secret/data/${operator.config.vault.pathPrefix}/cluster/${issuer}/policies/${namespace}/${name}`;
  const read = (await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } };
  return read.data.data;
}

/** The issuer's lookup index entry for a token hash; undefined when there is none. */
async function indexEntry(issuer: string, hash: string): Promise<unknown> {
  const path = `secret/data/${operator.config.vault.pathPrefix}/cluster/${issuer}/index/${hash}`;
  return vaultClient()
    .read(path)
    .then(
      (read: { data: { data: unknown } }) => read.data.data,
      (err: unknown) => {
        if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return undefined;
        throw err;
      },
    );
}

describe('revocation while minting is blocked', () => {
  it('after the issuer narrows its scopes, overlaps still end and revoke=current revokes at once', async () => {
    const issuer = await createReadyClusterIssuer('narrowed', operator.config.vault.transitMount, {
      allowed: { scopes: ['orders:*', 'admin:*'], maxTtl: '2h' },
    });
    await createPolicy(namespace, 'admin', {
      issuerRef: { name: issuer },
      token: { type: 'opaque', ttl: '1h', scopes: ['admin:read'] },
      rotation: { overlap: '15s' },
      secret: { name: 'admin' },
    });
    await waitForPolicy(namespace, 'admin', 'True/Issued');
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'admin' },
      { 'tokensmith.dev/rotate': '1' },
    );
    await expect.poll(() => versionStates('admin'), { timeout: 15_000 }).toEqual(['1:retiring', '2:active']);

    // The incident response: admin scopes are no longer allowed.
    await editClusterIssuer(issuer, (spec) => ({ ...spec, allowed: { scopes: ['orders:*'], maxTtl: '2h' } }));
    await expect
      .poll(() => policyReady(namespace, 'admin'), { timeout: 15_000 })
      .toBe('False/GuardrailViolated');
    // The overlap of version 1 still ends on time.
    await expect.poll(() => versionStates('admin'), { timeout: 30_000 }).toEqual(['1:revoked', '2:active']);

    const live = (await secretData(namespace, 'admin'))?.TOKEN;
    expect(live).toBeDefined();
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'admin' },
      { 'tokensmith.dev/revoke': 'current' },
    );
    await expect.poll(() => versionStates('admin'), { timeout: 15_000 }).toEqual(['1:revoked', '2:revoked']);
    // No replacement can be minted, so the Secret is emptied rather than left holding a revoked token.
    await expect.poll(async () => secretData(namespace, 'admin'), { timeout: 15_000 }).toEqual({});
    const record = await vaultRecord(issuer, 'admin');
    expect(record?.versions.map((v) => [v.version, v.state, v.revokeReason])).toEqual([
      [1, 'revoked', 'OverlapEnded'],
      [2, 'revoked', 'Compromised'],
    ]);
    // Revoked means gone: no plaintext in the record; the lookup index still says where each hash
    // was recorded (until the version is pruned), so a revoked token presented is known as revoked.
    expect(record?.versions.map((v) => v.token)).toEqual([undefined, undefined]);
    expect(JSON.stringify(record)).not.toContain(live);
    for (const v of record?.versions ?? []) {
      expect(await indexEntry(issuer, v.tokenHash)).toEqual({
        namespace,
        name: 'admin',
        version: v.version,
        kind: 'token',
      });
    }
    const ready = (await readPolicy(namespace, 'admin'))?.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.reason).toBe('GuardrailViolated');
    expect(ready?.message).toMatch(/scope "admin:read" is not allowed/);
    expect(operator.logs()).not.toContain(live);
  });

  it('deletes a policy whose issuer is not Ready, revoking its tokens first', async () => {
    const ownTransit = await enableEngine('transit', 'transit-broken');
    const issuer = await createReadyClusterIssuer('broken', ownTransit);
    await createPolicy(namespace, tokenPolicy('leaving', onIssuer(issuer)));
    await waitForPolicy(namespace, 'leaving', 'True/Issued');
    // The issuer's signing key goes away (its transit mount is disabled): it can no longer sign.
    await vaultClient().unmount({ mount_point: ownTransit });
    await annotateObject({ plural: 'clustertokenissuers', name: issuer }, { 'example.com/poke': '1' });
    await expect
      .poll(
        async () =>
          (await readClusterIssuer(issuer)).status?.conditions?.find((c) => c.type === 'Ready')?.status,
        { timeout: 30_000 },
      )
      .toBe('False');
    await deletePolicy(namespace, 'leaving');
    await expect.poll(() => readPolicy(namespace, 'leaving'), { timeout: 30_000 }).toBeUndefined();
    const record = await vaultRecord(issuer, 'leaving');
    expect(record?.versions.map((v) => [v.version, v.state, v.revokeReason])).toEqual([
      [1, 'revoked', 'PolicyDeleted'],
    ]);
  });
});

describe('issuer edits', () => {
  it('do not flip the Ready of its healthy policies, nor warn about them', async () => {
    const issuer = await createReadyClusterIssuer('edited', operator.config.vault.transitMount, {
      allowed: { scopes: ['orders:*'], maxTtl: '2h' },
    });
    await createPolicy(namespace, 'steady', {
      issuerRef: { name: issuer },
      token: { type: 'opaque', ttl: '1h', scopes: ['orders:read'] },
      secret: { name: 'steady' },
    });
    await waitForPolicy(namespace, 'steady', 'True/Issued');
    const before = await readPolicy(namespace, 'steady');
    const transition = () =>
      readPolicy(namespace, 'steady').then(
        (p) => p?.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime,
      );
    const since = await transition();

    for (let i = 0; i < 3; i++) {
      await editClusterIssuer(issuer, (spec) => ({
        ...spec,
        allowed: { scopes: ['orders:*', `extra${i}:*`], maxTtl: '2h' },
      }));
      await expect
        .poll(async () => {
          const seen = await readClusterIssuer(issuer);
          return seen.status?.observedGeneration === seen.metadata?.generation;
        })
        .toBe(true);
    }
    // Each edit and each status update of the issuer re-evaluated its policies; give the last of
    // those reconciles a moment. A flip to False and back would have moved lastTransitionTime.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await policyReady(namespace, 'steady')).toBe('True/Issued');
    expect(await transition()).toBe(since);
    const events = await eventsAbout(namespace, before?.metadata?.uid);
    expect(events.filter((e) => !e.startsWith('Issued:'))).toEqual([]);
  });
});
