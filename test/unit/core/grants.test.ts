import { describe, expect, it } from 'vitest';
import {
  GRANT_TOKENS_KEPT,
  decideExchange,
  grantHashes,
  grantTokenLive,
  withExchange,
  withReplay,
  type ExchangeDecision,
} from '../../../src/core/grants.ts';
import type { TokenVersionRecord } from '../../../src/core/records.ts';
import { planNextStep, type PlanInput } from '../../../src/core/plan.ts';
import { HOUR, T0, at, record, retiring, revoked, version } from '../../support/builders.ts';

const SECOND = 1_000;
const ME = 'system:serviceaccount:orders:api';
const THIEF = 'system:serviceaccount:elsewhere:thief';

/** A version with a refresh token `r0` valid for 30 days. */
function withRefresh(v: TokenVersionRecord): TokenVersionRecord {
  return { ...v, refreshTokenHash: 'r0', refreshExpiresAt: at(720 * HOUR).toISOString() };
}

/** `v` after exchanging `hash` at `offsetMs` by `caller`, issuing a`n`/r`n`. */
function exchanged(v: TokenVersionRecord, hash: string, offsetMs: number, caller = ME): TokenVersionRecord {
  const decision = decideExchange({ version: v, hash, caller, now: at(offsetMs) });
  if (decision.kind !== 'exchange' && decision.kind !== 'retry')
    throw new Error(`not redeemable: ${decision.kind}`);
  const n = (v.grant?.exchanges ?? 0) + 1;
  return withExchange(
    v,
    decision,
    {
      token: {
        hash: `a${n}`,
        fingerprint: `sha256:a${n}`,
        type: 'opaque',
        scopes: [],
        issuedAt: at(offsetMs).toISOString(),
        expiresAt: at(offsetMs + HOUR).toISOString(),
      },
      refresh: { hash: `r${n}`, fingerprint: `sha256:r${n}` },
    },
    caller,
    at(offsetMs),
  ).version;
}

const decide = (v: TokenVersionRecord, hash: string, offsetMs: number, caller = ME): ExchangeDecision =>
  decideExchange({ version: v, hash, caller, now: at(offsetMs) });

describe('decideExchange', () => {
  const fresh = version(1, withRefresh);
  const once = exchanged(fresh, 'r0', 0);
  const twice = exchanged(once, 'r1', 5 * SECOND);
  it.each([
    {
      name: "the version's own refresh token, never redeemed",
      v: fresh,
      hash: 'r0',
      t: 0,
      who: ME,
      kind: 'exchange',
    },
    { name: 'the live one after an exchange', v: once, hash: 'r1', t: SECOND, who: ME, kind: 'exchange' },
    {
      name: 'the spent one again at once, same caller: a conflict',
      v: once,
      hash: 'r0',
      t: 500,
      who: ME,
      kind: 'conflict',
    },
    {
      name: 'the spent one after 2 s, same caller, answer unused: a retry',
      v: once,
      hash: 'r0',
      t: 2 * SECOND,
      who: ME,
      kind: 'retry',
    },
    {
      name: 'the spent one after the grace: a replay',
      v: once,
      hash: 'r0',
      t: 11 * SECOND,
      who: ME,
      kind: 'replay',
    },
    {
      name: 'the spent one from another caller, at once: a replay',
      v: once,
      hash: 'r0',
      t: 100,
      who: THIEF,
      kind: 'replay',
    },
    {
      name: 'the spent one after its answer was used: a replay',
      v: twice,
      hash: 'r0',
      t: 6 * SECOND,
      who: ME,
      kind: 'replay',
    },
    {
      name: 'a refresh token the grant forgot: a replay',
      v: twice,
      hash: 'r-old',
      t: 6 * SECOND,
      who: ME,
      kind: 'replay',
    },
    { name: 'the version revoked', v: revoked()(once), hash: 'r1', t: SECOND, who: ME, kind: 'invalid' },
    {
      name: 'the version retiring: still redeemable',
      v: retiring(0)(once),
      hash: 'r1',
      t: SECOND,
      who: ME,
      kind: 'exchange',
    },
    { name: 'the grant expired', v: once, hash: 'r1', t: 721 * HOUR, who: ME, kind: 'invalid' },
    {
      name: 'the grant revoked',
      v: withReplay(once, { by: THIEF, fingerprint: 'x' }, T0),
      hash: 'r1',
      t: SECOND,
      who: ME,
      kind: 'invalid',
    },
  ])('$name: $kind', ({ v, hash, t, who, kind }) => {
    expect(decide(v, hash, t, who).kind).toBe(kind);
  });

  it('allows one retry only, and revokes the pair of the lost answer', () => {
    const retried = exchanged(once, 'r0', 2 * SECOND);
    expect(retried.grant?.tokens.map((x) => [x.hash, x.revokedAt !== undefined])).toEqual([
      ['a1', true],
      ['a2', false],
    ]);
    expect(grantTokenLive(retried, 'a1', 'grantToken', at(3 * SECOND))).toBeUndefined();
    expect(grantTokenLive(retried, 'a2', 'grantToken', at(3 * SECOND))).toBeDefined();
    // The lost answer's refresh token showing up after all: a replay.
    expect(decide(retried, 'r1', 3 * SECOND).kind).toBe('replay');
    expect(decide(retried, 'r0', 4 * SECOND).kind).toBe('replay');
    expect(decide(retried, 'r2', 4 * SECOND).kind).toBe('exchange');
  });
});

describe('the grant record', () => {
  it('keeps the newest access tokens, and says which index entries to drop', () => {
    let v = version(1, withRefresh);
    for (let i = 0; i < GRANT_TOKENS_KEPT + 2; i++)
      v = exchanged(v, i === 0 ? 'r0' : `r${i}`, i * 20 * SECOND);
    expect(v.grant?.tokens).toHaveLength(GRANT_TOKENS_KEPT);
    expect(v.grant?.tokens[0]?.hash).toBe('a3');
    expect(grantHashes(v)).toContain('r12');
    expect(grantHashes(v)).not.toContain('r0'); // indexed with the version itself
  });

  it('revokes every token of the grant on a replay, and only once', () => {
    const v = exchanged(exchanged(version(1, withRefresh), 'r0', 0), 'r1', 5 * SECOND);
    const replayed = withReplay(v, { by: THIEF, fingerprint: 'sha256:r0' }, at(6 * SECOND));
    for (const hash of ['a1', 'a2'])
      expect(grantTokenLive(replayed, hash, 'grantToken', at(7 * SECOND))).toBeUndefined();
    expect(grantTokenLive(replayed, 'r2', 'grantRefreshToken', at(7 * SECOND))).toBeUndefined();
    expect(grantTokenLive(v, 'r2', 'grantRefreshToken', at(7 * SECOND))).toBeDefined();
    expect(withReplay(replayed, { by: ME, fingerprint: 'y' }, at(8 * SECOND))).toBe(replayed);
  });

  it('lets nothing of the grant live past its version', () => {
    const v = exchanged(version(1, withRefresh), 'r0', 0);
    expect(grantTokenLive(revoked()(v), 'a1', 'grantToken', at(SECOND))).toBeUndefined();
    expect(grantTokenLive(v, 'a1', 'grantToken', at(HOUR + SECOND))).toBeUndefined(); // its own expiry
  });
});

describe('planNextStep with onSuspiciousUse', () => {
  const replayed = withReplay(
    exchanged(version(1, withRefresh), 'r0', 0),
    { by: THIEF, fingerprint: 'x' },
    T0,
  );
  const input = (revokeOnSuspiciousUse: boolean, mintBlocked = false): PlanInput => ({
    now: at(HOUR),
    record: record(1, replayed),
    secretTokenHash: 'hash-1',
    secretInSync: true,
    specHash: 'spec-a',
    renewBeforeMs: 8 * HOUR,
    overlapMs: 0,
    historyLimit: 3,
    requests: {},
    revokeOnSuspiciousUse,
    mintBlocked,
  });
  it.each([
    { name: 'alert (the default): nothing', revoke: false, blocked: false, step: { kind: 'none' } },
    {
      name: 'revoke: replaced with no overlap',
      revoke: true,
      blocked: false,
      step: { kind: 'mint', reason: 'SuspiciousUse', onActivate: 'revokeCurrent' },
    },
    {
      name: 'revoke, minting blocked: revoked at once',
      revoke: true,
      blocked: true,
      step: { kind: 'revoke', versions: [1] },
    },
  ])('$name', ({ revoke, blocked, step }) => {
    expect(planNextStep(input(revoke, blocked))).toMatchObject(step);
  });
});
