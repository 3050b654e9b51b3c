/**
 * Telling tokensmith's own Secret change from drift: the previous token leaving the Secret at the
 * end of its overlap is expected; anything else that differs is drift (an Event says so).
 */
import { describe, expect, it } from 'vitest';
import type { V1Secret } from '@kubernetes/client-node';
import { tokenHash } from '../../../src/core/fingerprint.ts';
import { desiredSecret } from '../../../src/controllers/tokenPolicy/secret.ts';
import { desiredSecretData, secretChange } from '../../../src/core/secretData.ts';
import { policySettings } from '../../../src/controllers/tokenPolicy/settings.ts';
import type { TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import { HOUR, at, record, retiring, revoked, version } from '../../support/builders.ts';

const identity = { namespace: 'team', name: 'orders', uid: 'uid-1' };
const policy: TokenPolicy = {
  apiVersion: 'tokensmith.dev/v1alpha1',
  kind: 'TokenPolicy',
  metadata: { namespace: 'team', name: 'orders', uid: 'uid-1' },
  spec: {
    issuerRef: { name: 'payments' },
    token: { type: 'opaque', ttl: '24h' },
    rotation: { overlap: '1h' },
    secret: { name: 'orders', keys: { previous: 'PREVIOUS_TOKEN' } },
  },
};
const settings = policySettings(policy, { minRotationIntervalMs: 0 });
/** Version 1 retired at T0 (its token is known by hash); version 2 active. */
const v1 = { ...version(1, retiring(0)), token: 'token-1', tokenHash: tokenHash('token-1') };
const rec = record(2, v1, version(2));
const active = rec.versions[1] ?? version(2);

const secretHolding = (data: Record<string, string>): V1Secret => desiredSecret(identity, settings, data);

describe('secretChange', () => {
  it('is overlapEnded when only the ended previous token differs, also once it is revoked', () => {
    const during = desiredSecretData(settings, active, rec, at(HOUR / 2));
    expect(during.PREVIOUS_TOKEN).toBe('token-1');
    const after = desiredSecretData(settings, active, rec, at(2 * HOUR));
    expect(after.PREVIOUS_TOKEN).toBeUndefined();
    expect(secretChange(secretHolding(during), identity, settings, after, rec)).toBe('overlapEnded');
    const revokedRec = record(2, { ...version(1, revoked()), tokenHash: tokenHash('token-1') }, active);
    expect(secretChange(secretHolding(during), identity, settings, after, revokedRec)).toBe('overlapEnded');
  });

  it('is drift when anything else differs', () => {
    const after = desiredSecretData(settings, active, rec, at(2 * HOUR));
    const tampered = { ...desiredSecretData(settings, active, rec, at(HOUR / 2)), TOKEN: 'forged' };
    expect(secretChange(secretHolding(tampered), identity, settings, after, rec)).toBe('drift');
    const foreignPrevious = { ...after, PREVIOUS_TOKEN: 'not-ours' };
    expect(secretChange(secretHolding(foreignPrevious), identity, settings, after, rec)).toBe('drift');
    expect(secretChange(undefined, identity, settings, after, rec)).toBe('drift');
  });
});
