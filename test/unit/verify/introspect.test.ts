/**
 * Introspection's decisions on a fake clock, with an in-memory token store behind the TokenStore
 * port and a fixed caller: a live token (active or retiring) is active; an expired, not yet valid
 * or revoked one, a hash of the other kind, and a token of a policy that was deleted and made
 * again (other uid) are `{"active": false}`; what was cached is dropped when the policy changes.
 */
import { describe, expect, it } from 'vitest';
import type { TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import { tokenHash } from '../../../src/core/fingerprint.ts';
import type { PolicyTokenRecord, TokenIndexEntry } from '../../../src/core/records.ts';
import type { AnyIssuer } from '../../../src/issuers/identity.ts';
import type { ObjectKey, TokenStore } from '../../../src/ports.ts';
import { Introspection } from '../../../src/verify/introspect.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { HOUR, T0, record, retiring, revoked, version } from '../../support/builders.ts';
import { FakeClock } from '../../support/fakeClock.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

const ISSUER = {
  kind: 'ClusterTokenIssuer',
  metadata: { name: 'payments', uid: 'issuer-uid' },
  spec: { issuer: 'https://tokens.example' },
} as AnyIssuer;

/** The record with each version's hash that of `token-<version>`, as the index keys it. */
const hashed = (rec: PolicyTokenRecord): PolicyTokenRecord => ({
  ...rec,
  versions: rec.versions.map((v) => ({ ...v, tokenHash: tokenHash(`token-${v.version}`) })),
});

function harness(given: PolicyTokenRecord) {
  const rec = hashed(given);
  const clock = new FakeClock(T0);
  const index = new Map<string, TokenIndexEntry>();
  let current = rec;
  let reads = 0;
  for (const v of rec.versions) {
    index.set(tokenHash(`token-${v.version}`), {
      namespace: 'team',
      name: 'orders',
      version: v.version,
      kind: 'token',
    });
  }
  const store = {
    read: (key: ObjectKey) => {
      reads += 1;
      return Promise.resolve(key.name === 'orders' ? { value: current, casVersion: 1 } : undefined);
    },
    getIndex: (hash: string) => Promise.resolve(index.get(hash)),
  } as unknown as TokenStore;
  const policy: TokenPolicy = {
    ...tokenPolicy('orders', onIssuer('payments')),
    metadata: { name: 'orders', namespace: 'team', uid: 'uid-1' },
  };
  let live: TokenPolicy | undefined = policy;
  const introspection = new Introspection({
    clock,
    log: { ...silentLogger, info: () => undefined } as never,
    callers: {
      authenticate: () =>
        Promise.resolve({
          username: 'system:serviceaccount:team:api',
          serviceAccount: { namespace: 'team', name: 'api' },
        }),
    },
    policy: () => live,
    store: () => Promise.resolve(store),
    callerMissQps: 5,
  });
  const ask = async (token: string) => {
    const answer = await introspection.handle(ISSUER, {
      method: 'POST',
      host: 'localhost',
      path: '/introspect',
      headers: { authorization: 'Bearer caller', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    return JSON.parse(answer.body ?? '{}') as Record<string, unknown>;
  };
  return {
    clock,
    ask,
    introspection,
    reads: () => reads,
    setRecord: (next: PolicyTokenRecord) => (current = hashed(next)),
    setPolicy: (next: TokenPolicy | undefined) => (live = next),
  };
}

describe('introspection decisions', () => {
  it('answers 429 to a caller presenting more uncached tokens than its budget, not more Vault reads', async () => {
    const h = harness(record(1, version(1)));
    const answers = [];
    for (let i = 0; i < 15; i++)
      answers.push(
        await h.introspection.handle(ISSUER, {
          method: 'POST',
          host: 'localhost',
          path: '/introspect',
          headers: { authorization: 'Bearer caller', 'content-type': 'application/x-www-form-urlencoded' },
          body: `token=made-up-${i}`,
        }),
      );
    // A burst of twice the rate (10) is looked up; the rest is refused without a Vault read.
    expect(answers.map((a) => a.status)).toEqual([
      ...Array<number>(10).fill(200),
      ...Array<number>(5).fill(429),
    ]);
    expect(h.reads()).toBe(0); // unknown hashes stop at the index
    expect(h.introspection.counts.vaultReads).toBe(10);
    await h.clock.advance(1000);
    expect((await h.ask('token-1')).active).toBe(true); // the budget refills
  });

  it('answers active for a live token, active or retiring, and inactive once it expires', async () => {
    const h = harness(record(2, version(1, retiring(0)), version(2)));
    expect(await h.ask('token-2')).toMatchObject({ active: true, policy: 'team/orders', version: 2 });
    expect(await h.ask('token-1')).toMatchObject({ active: true, version: 1 });
    await h.clock.advance(24 * HOUR);
    expect(await h.ask('token-2')).toEqual({ active: false });
  });

  it('answers inactive for a token not valid yet, a revoked one, and an unknown one', async () => {
    const early = harness(
      record(1, { ...version(1), issuedAt: new Date(T0.getTime() + HOUR).toISOString() }),
    );
    expect(await early.ask('token-1')).toEqual({ active: false });
    const h = harness(record(2, version(1, revoked()), version(2)));
    expect(await h.ask('token-1')).toEqual({ active: false });
    expect(await h.ask('token-9')).toEqual({ active: false });
  });

  it('answers inactive for a policy deleted and created again under the same name', async () => {
    const h = harness(record(1, version(1)));
    h.setPolicy({ ...tokenPolicy('orders'), metadata: { name: 'orders', namespace: 'team', uid: 'uid-2' } });
    expect(await h.ask('token-1')).toEqual({ active: false });
    h.setPolicy(undefined);
    expect(await h.ask('token-1')).toEqual({ active: false });
  });

  it('caches what Vault said, and drops it when the policy changes (a revocation)', async () => {
    const h = harness(record(1, version(1)));
    expect((await h.ask('token-1')).active).toBe(true);
    const reads = h.reads();
    expect((await h.ask('token-1')).active).toBe(true);
    expect(h.reads()).toBe(reads); // from the cache
    h.setRecord(record(1, version(1, revoked())));
    expect((await h.ask('token-1')).active).toBe(true); // not told yet: within the cache TTL
    h.introspection.policyChanged({ namespace: 'team', name: 'orders' });
    expect(await h.ask('token-1')).toEqual({ active: false });
    expect(h.introspection.counts).toMatchObject({ hits: 2, misses: 2 });
  });
});
