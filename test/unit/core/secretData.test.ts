/**
 * What the Secret should hold: the token, its expiry and the refresh token under the policy's
 * keys; the previous token only with `keys.previous`, during its overlap, and never what a
 * compromise replaces; and the comparison that finds drift, including a Secret owned by another.
 */
import { describe, expect, it } from 'vitest';
import { policySettings } from '../../../src/controllers/tokenPolicy/settings.ts';
import { desiredSecret } from '../../../src/controllers/tokenPolicy/secret.ts';
import {
  desiredSecretData,
  ownedByOther,
  secretInSync,
  tokenInSecret,
} from '../../../src/core/secretData.ts';
import { HOUR, at, record, retiring, version } from '../../support/builders.ts';
import { onIssuer, overlap, secret, tokenPolicy, ttl } from '../../support/policies.ts';

const identity = { namespace: 'team', name: 'o', uid: 'uid-1' };
const withPrevious = policySettings(
  tokenPolicy(
    'o',
    onIssuer('p'),
    ttl('24h'),
    overlap('1h'),
    secret({ name: 'o', keys: { previous: 'PREVIOUS' } }),
  ),
);
const plain = policySettings(tokenPolicy('o', onIssuer('p'), ttl('24h'), overlap('1h')));

describe('desiredSecretData', () => {
  const rec = record(2, version(1, retiring(0)), { ...version(2), refreshToken: 'refresh-2' });
  const active = rec.versions[1] ?? version(2);

  it('holds the token, its expiry and the refresh token under the policy keys', () => {
    expect(desiredSecretData(plain, active, rec, at(HOUR / 2))).toEqual({
      TOKEN: 'token-2',
      TOKEN_EXPIRES_AT: active.expiresAt,
      REFRESH_TOKEN: 'refresh-2',
    });
  });

  it('delivers the previous token only with keys.previous and only during the overlap', () => {
    expect(desiredSecretData(withPrevious, active, rec, at(HOUR / 2)).PREVIOUS).toBe('token-1');
    expect(desiredSecretData(withPrevious, active, rec, at(2 * HOUR)).PREVIOUS).toBeUndefined();
  });

  it('never delivers what a replacement after a compromise replaces', () => {
    const pendingAfterCompromise = {
      ...version(3),
      state: 'pending' as const,
      onActivate: 'revokeCurrent' as const,
    };
    const rec3 = record(2, version(1, retiring(0)), version(2), pendingAfterCompromise);
    expect(desiredSecretData(withPrevious, pendingAfterCompromise, rec3, at(HOUR / 2)).PREVIOUS).toBe(
      'token-1',
    );
    const all = { ...pendingAfterCompromise, onActivate: 'revokeAll' as const };
    expect(
      desiredSecretData(withPrevious, all, record(2, version(1, retiring(0)), version(2), all), at(HOUR / 2))
        .PREVIOUS,
    ).toBeUndefined();
  });
});

describe('comparing with the Secret', () => {
  const data = { TOKEN: 'token-1', TOKEN_EXPIRES_AT: 'x' };
  const ours = desiredSecret(identity, plain, data);

  it('is in sync with exactly what it applied, and reads the token back', () => {
    expect(secretInSync(ours, identity, plain, data)).toBe(true);
    expect(tokenInSecret(ours, plain)).toBe('token-1');
    expect(secretInSync(ours, identity, plain, { ...data, TOKEN: 'token-2' })).toBe(false);
    expect(secretInSync(undefined, identity, plain, data)).toBe(false);
  });

  it('finds a Secret of that name that another controller owns', () => {
    const foreign = desiredSecret(identity, plain, data);
    if (foreign.metadata) {
      foreign.metadata.ownerReferences = [
        { apiVersion: 'v1', kind: 'X', name: 'x', uid: 'other', controller: true },
      ];
    }
    expect(ownedByOther(foreign, identity)).toBe(true);
    expect(ownedByOther(ours, identity)).toBe(false);
    expect(ownedByOther({ metadata: { labels: {} } }, identity)).toBe(true);
    expect(ownedByOther(undefined, identity)).toBe(false);
  });
});
