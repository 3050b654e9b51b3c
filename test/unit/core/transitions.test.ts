/**
 * Record transitions that revoke: the revoked version keeps what answers for it (hash,
 * fingerprint, times, reason) and loses its plaintext token and refresh token.
 */
import { describe, expect, it } from 'vitest';
import { withActivated, withAllRevoked, withRevoked } from '../../../src/core/transitions.ts';
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
