/**
 * policySettings: a TokenPolicy spec with the API's defaults made explicit, and what the CRD
 * schema cannot refuse refused here as InvalidSpec with a message that says what to change.
 */
import { describe, expect, it } from 'vitest';
import { policySettings } from '../../../src/controllers/tokenPolicy/settings.ts';
import { isTokensmithError } from '../../../src/errors.ts';
import {
  jwt,
  onIssuer,
  rotation,
  scopes,
  secret,
  tokenPolicy,
  ttl,
  withRefresh,
} from '../../support/policies.ts';

const inTeam = (p: ReturnType<typeof tokenPolicy>) => ({
  ...p,
  metadata: { name: p.metadata?.name ?? '', namespace: 'team' },
});
const HOUR = 3_600_000;

describe('policySettings', () => {
  it('makes the defaults explicit for an opaque token', () => {
    const s = policySettings(inTeam(tokenPolicy('orders', onIssuer('payments'), scopes('b', 'a'))));
    expect(s).toMatchObject({
      shape: {
        type: 'opaque',
        opaque: { bytes: 32, prefix: '', encoding: 'base64url' },
        scopes: ['a', 'b'],
        ttlMs: HOUR,
        issuer: { kind: 'ClusterTokenIssuer', name: 'payments' },
      },
      renewBeforeMs: HOUR / 3,
      overlapMs: 0,
      historyLimit: 3,
      secret: {
        name: 'orders',
        keys: { token: 'TOKEN', refreshToken: 'REFRESH_TOKEN', expiresAt: 'TOKEN_EXPIRES_AT' },
      },
      workloads: [],
    });
    expect(s.shape.refresh).toBeUndefined();
  });

  it("gives a JWT the policy's own subject and a refresh token thirty times the TTL", () => {
    const s = policySettings(
      inTeam(tokenPolicy('orders', onIssuer('payments'), jwt(['api']), withRefresh())),
    );
    expect(s.shape.jwt).toEqual({ audience: ['api'], subject: 'system:tokenpolicy:team:orders', claims: {} });
    expect(s.shape.refresh).toEqual({ ttlMs: 30 * HOUR });
  });

  it('caps the default refresh TTL at a year', () => {
    const s = policySettings(inTeam(tokenPolicy('o', ttl('720h'), withRefresh())));
    expect(s.shape.refresh?.ttlMs).toBe(8760 * HOUR);
  });

  it.each([
    [
      'renewBefore not shorter than the TTL',
      rotation({ renewBefore: '1h' }),
      /rotation.renewBefore must be shorter than token.ttl/,
    ],
    ['renewBefore of 0s', rotation({ renewBefore: '0s' }), /rotation.renewBefore must be longer than 0s/],
    ['a refresh TTL over a year', withRefresh({ enabled: true, ttl: '8761h' }), /at most 8760h/],
    ['an impossible date', rotation({ schedule: '0 0 30 2 *' }), /rotation.schedule "0 0 30 2 \*"/],
    ['claims too large', jwt(['api'], { claims: { blob: 'x'.repeat(5000) } }), /at most 4096 are allowed/],
  ])('refuses %s as InvalidSpec', (_what, modifier, message) => {
    let err: unknown;
    try {
      policySettings(inTeam(tokenPolicy('o', onIssuer('p'), modifier)), { minRotationIntervalMs: 60_000 });
    } catch (e) {
      err = e;
    }
    expect(isTokensmithError(err, 'InvalidSpec')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it('refuses a TTL that would rotate more often than the minimum rotation interval', () => {
    expect(() =>
      policySettings(inTeam(tokenPolicy('o', ttl('90s'), secret({ name: 'o' }))), {
        minRotationIntervalMs: 120_000,
      }),
    ).toThrow(/more often than the minimum rotation interval 2m/);
  });
});
