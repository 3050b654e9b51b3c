/**
 * Record transitions that revoke: the revoked version keeps what answers for it (hash,
 * fingerprint, times, reason) and loses its plaintext token and refresh token.
 */
import { describe, expect, it } from 'vitest';
import {
  withActivated,
  withAllRevoked,
  withMintedCurrent,
  withRevoked,
} from '../../../src/core/transitions.ts';
import { T0, active, pending, record, retiring, version } from '../../support/builders.ts';

const withRefresh = (v: ReturnType<typeof version>) => ({
  ...v,
  refreshToken: `refresh-${v.version}`,
  refreshTokenHash: `refresh-hash-${v.version}`,
});

describe('revoking', () => {
  it('erases the token and refresh token, and keeps what answers for the version', () => {
    const before = record(1, withRefresh(version(1, active())));
    const after = withRevoked(before, [1], T0, 'Compromised');
    expect(after.versions[0]).toEqual({
      version: 1,
      state: 'revoked',
      type: 'opaque',
      tokenHash: 'hash-1',
      fingerprint: 'sha256:hash-1',
      refreshTokenHash: 'refresh-hash-1',
      scopes: [],
      specHash: 'spec-a',
      issuedAt: T0.toISOString(),
      expiresAt: before.versions[0]?.expiresAt,
      revokedAt: T0.toISOString(),
      revokeReason: 'Compromised',
    });
    expect(JSON.stringify(after)).not.toMatch(/token-1|refresh-1"/);
  });

  it('erases on every path that revokes: activation after a compromise, and deletion', () => {
    const rotating = record(1, version(1, active()), version(2, pending()), version(0, retiring(0)));
    const activated = withActivated(rotating, 2, T0, 'revokeAll');
    expect(activated.versions.map((v) => [v.version, v.state, v.token])).toEqual([
      [1, 'revoked', undefined],
      [2, 'active', 'token-2'],
      [0, 'revoked', undefined],
    ]);
    const deleted = withAllRevoked(activated, T0, 'PolicyDeleted');
    expect(deleted.versions.every((v) => v.token === undefined)).toBe(true);
  });
});

describe('a routine rotation, recorded in one write', () => {
  it('makes the new version current and active, and starts the overlap of the one it replaces', () => {
    const before = record(2, version(1, retiring(-60_000)), version(2, active()));
    const after = withMintedCurrent(before, version(3, pending()), T0, { rotate: 'r-1' });
    expect(after.currentVersion).toBe(3);
    expect(after.lastVersion).toBe(3);
    expect(after.handled).toEqual({ rotate: 'r-1' });
    expect(after.versions.map((v) => [v.version, v.state, v.retiringSince])).toEqual([
      [1, 'retiring', before.versions[0]?.retiringSince], // its overlap keeps its own start
      [2, 'retiring', T0.toISOString()],
      [3, 'active', undefined],
    ]);
    expect(after.versions[2]?.publishedAt).toBe(T0.toISOString());
  });
});
