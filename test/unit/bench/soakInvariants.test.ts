import { describe, expect, it } from 'vitest';
import { soakInvariants, type SoakEvidence } from '../../../bench/soakInvariants.ts';
import type { PolicyTokenRecord, TokenVersionRecord } from '../../../src/core/records.ts';

const MIN = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString();

/** Version n, issued at `issued` minutes, living 30 minutes, revoked at `revoked` if given. */
function version(n: number, issued: number, revoked?: number): TokenVersionRecord {
  return {
    version: n,
    state: revoked === undefined ? 'active' : 'revoked',
    type: 'opaque',
    tokenHash: `h${n}`,
    fingerprint: `f${n}`,
    scopes: [],
    specHash: 's',
    issuedAt: at(issued),
    expiresAt: at(issued + 30),
    mintReason: n === 1 ? 'Initial' : 'Renewal',
    ...(revoked === undefined ? {} : { revokedAt: at(revoked) }),
  };
}

function record(versions: TokenVersionRecord[]): PolicyTokenRecord {
  const last = Math.max(...versions.map((v) => v.version));
  return {
    policy: { namespace: 'soak', name: 'p', uid: 'u' },
    issuer: { kind: 'ClusterTokenIssuer', name: 'soak' },
    currentVersion: last,
    lastVersion: last,
    versions,
  };
}

/** A healthy history: renewals every 20 minutes, each previous one revoked 2 minutes after. */
const healthy = () => record([version(1, 0, 22), version(2, 20, 42), version(3, 40)]);

function evidence(r: PolicyTokenRecord, sightings: [string, number][], endMinutes = 50): SoakEvidence {
  const seen = new Map<string, number[]>();
  for (const [hash, minute] of sightings) seen.set(hash, [...(seen.get(hash) ?? []), T0 + minute * MIN]);
  return {
    records: new Map([['p', r]]),
    seen: new Map([['p', seen]]),
    slackMs: 1000,
    renewIntervalMs: 20 * MIN,
    endedAt: T0 + endMinutes * MIN,
  };
}

describe('the soak invariants', () => {
  it('find nothing wrong in a healthy history', () => {
    const found = soakInvariants(
      evidence(healthy(), [
        ['h1', 5],
        ['h2', 21],
        ['h3', 45],
      ]),
    );
    expect(found.violations).toEqual([]);
    expect(found.rotations).toBe(2);
    expect(found.due).toBe(2);
    expect(found.observations).toBe(3);
    expect(found.mintReasons).toEqual({ Initial: 1, Renewal: 2 });
  });

  it('catch a token Vault never recorded', () => {
    expect(soakInvariants(evidence(healthy(), [['forged', 5]])).violations).toEqual([
      'p: a Secret held a token Vault never recorded',
    ]);
  });

  it('catch a token seen after it was revoked, or after it expired', () => {
    expect(soakInvariants(evidence(healthy(), [['h1', 23]])).violations).toEqual([
      'p: version 1 seen in the Secret after it was revoked',
    ]);
    const unrevoked = record([version(1, 0), version(2, 20, 42), version(3, 40)]);
    expect(soakInvariants(evidence(unrevoked, [['h1', 31]])).violations).toEqual([
      'p: version 1 seen in the Secret after it expired',
    ]);
  });

  it('catch a rotation done twice for one due time', () => {
    const twice = record([version(1, 0, 22), version(2, 20, 23), version(3, 21)]);
    expect(soakInvariants(evidence(twice, [])).violations).toEqual([
      'p: versions 2 and 3 minted 1.0 token-minutes apart (renewal every 20)',
    ]);
  });

  it('catch rotations lost', () => {
    expect(soakInvariants(evidence(healthy(), [], 100)).violations).toEqual([
      'p: 2 renewals where 5 were due (rotations lost)',
    ]);
  });

  it('catch a missing record and a lastVersion ahead of the versions', () => {
    const ahead = { ...healthy(), lastVersion: 4 };
    const found = soakInvariants({
      ...evidence(ahead, []),
      records: new Map([
        ['p', ahead],
        ['q', undefined],
      ]),
    });
    expect(found.violations).toEqual([
      'p: lastVersion 4 is not its newest recorded version',
      'q: no record in Vault',
    ]);
  });
});
