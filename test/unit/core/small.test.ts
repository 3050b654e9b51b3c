import { describe, expect, it } from 'vitest';
import { buildJwtClaims } from '../../../src/core/claims.ts';
import { setCondition } from '../../../src/core/conditions.ts';
import { formatDuration, parseDuration } from '../../../src/core/duration.ts';
import { fingerprintOfHash, stableHash, tokenHash } from '../../../src/core/fingerprint.ts';
import { base62, mintOpaque } from '../../../src/core/opaque.ts';
import type { TokenShape } from '../../../src/core/settings.ts';
import { HOUR, T0, at } from '../../support/builders.ts';

describe('durations', () => {
  it.each([
    ['24h', 24 * HOUR],
    ['1h30m', 90 * 60_000],
    ['1.5h', 90 * 60_000],
    ['90s', 90_000],
    ['250ms', 250],
    ['0', 0],
    ['2h0m5s', 2 * HOUR + 5_000],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '1d', '24', 'h', '-1h', '1 h'])('refuses %j with a message that shows the format', (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration: write a number and a unit, such as 90s/);
  });

  it.each([
    [0, '0s'],
    [90 * 60_000, '1h30m'],
    [72 * HOUR, '72h'],
    [1_500, '1s500ms'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('opaque tokens', () => {
  const fixed = (size: number) => new Uint8Array(size).fill(0xab);

  it('prefixes and encodes the random bytes', () => {
    expect(mintOpaque({ bytes: 4, prefix: 'tsk_', encoding: 'hex' }, fixed)).toBe('tsk_abababab');
    expect(mintOpaque({ bytes: 3, encoding: 'base64url' }, fixed)).toBe('q6ur');
    expect(mintOpaque({}, fixed)).toHaveLength(43); // 32 bytes, base64url without padding
  });

  it('gives base62 tokens a fixed width, even with leading zero bytes', () => {
    expect(base62(new Uint8Array(32))).toBe('0'.repeat(43));
    expect(base62(new Uint8Array(32).fill(255))).toMatch(/^[0-9A-Za-z]{43}$/);
    expect(base62(Uint8Array.from([1]))).toBe('01');
  });
});

describe('fingerprints', () => {
  it('hashes with sha256 and shows only a prefix', () => {
    const hash = tokenHash('secret-token');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintOfHash(hash)).toBe(`sha256:${hash.slice(0, 12)}`);
    expect(fingerprintOfHash(hash)).not.toContain('secret');
  });

  it('hashes objects independently of key order', () => {
    expect(stableHash({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(stableHash({ b: [1, { d: 3, c: 2 }], a: 1 }));
    expect(stableHash({ a: 1 })).not.toBe(stableHash({ a: 2 }));
  });
});

describe('conditions', () => {
  const ready = { type: 'Ready', status: 'True' as const, reason: 'Issued', message: 'token v1 issued' };

  it('keeps lastTransitionTime while the status does not change', () => {
    const first = setCondition(undefined, ready, T0, 1);
    const second = setCondition(first, { ...ready, message: 'token v2 issued' }, at(HOUR), 2);
    expect(second).toEqual([
      { ...ready, message: 'token v2 issued', lastTransitionTime: T0.toISOString(), observedGeneration: 2 },
    ]);
    const third = setCondition(
      second,
      { ...ready, status: 'False', reason: 'IssuerNotFound' },
      at(2 * HOUR),
      2,
    );
    expect(third[0]?.lastTransitionTime).toBe(at(2 * HOUR).toISOString());
    expect(first[0]?.message).toBe('token v1 issued'); // inputs are not modified
  });
});

describe('JWT claims', () => {
  const shape: TokenShape = {
    type: 'jwt',
    jwt: { audience: ['orders-api'], subject: 'checkout', claims: { tenant: 'acme' } },
    scopes: ['orders:read', 'orders:write'],
    ttlMs: HOUR,
    issuer: { kind: 'ClusterTokenIssuer', name: 'payments' },
  };

  it('sets registered claims from the spec and the clock', () => {
    const claims = buildJwtClaims({
      issuer: 'https://tokens.example',
      shape,
      now: T0,
      expiresAt: at(HOUR),
      jti: 'j1',
    });
    expect(claims).toEqual({
      tenant: 'acme',
      iss: 'https://tokens.example',
      sub: 'checkout',
      aud: 'orders-api',
      iat: T0.getTime() / 1000,
      nbf: T0.getTime() / 1000,
      exp: T0.getTime() / 1000 + 3600,
      jti: 'j1',
      scope: 'orders:read orders:write',
    });
  });

  it('refuses extra claims that would override registered ones', () => {
    const forged = {
      ...shape,
      jwt: { audience: ['a'], subject: 's', claims: { exp: 9_999_999_999, iss: 'evil' } },
    };
    expect(() =>
      buildJwtClaims({ issuer: 'https://x', shape: forged, now: T0, expiresAt: at(HOUR), jti: 'j' }),
    ).toThrow('token.jwt.claims must not set exp, iss: tokensmith sets those');
  });
});
