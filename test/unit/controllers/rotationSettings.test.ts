import { describe, expect, it } from 'vitest';
import type { ClusterTokenIssuer, TokenIssuerSpec } from '../../../src/api/v1alpha1.generated.ts';
import { rotationSettings } from '../../../src/controllers/issuer/keyLifecycle.ts';
import { TokensmithError } from '../../../src/errors.ts';

const HOUR = 3_600_000;

function issuer(spec: Partial<TokenIssuerSpec>): ClusterTokenIssuer {
  return {
    apiVersion: 'tokensmith.dev/v1alpha1',
    kind: 'ClusterTokenIssuer',
    metadata: { name: 'payments' },
    spec: { issuer: 'https://tokens.payments.example', ...spec },
  };
}

describe('rotationSettings (the reconcile-time second line behind the CRD)', () => {
  it('defaults as the CRD does: every 720h, verifyFor 48h (covering maxTtl 24h), publishAhead 10m', () => {
    expect(rotationSettings(issuer({}))).toEqual({
      everyMs: 720 * HOUR,
      verifyForMs: 48 * HOUR,
      publishAheadMs: HOUR / 6,
      text: { every: '720h', verifyFor: '48h', publishAhead: '10m', maxTtl: '24h' },
    });
  });

  it.each([
    {
      name: 'verifyFor shorter than maxTtl',
      spec: { signing: { rotation: { verifyFor: '1h' } }, allowed: { maxTtl: '2h' } },
      message:
        'signing.rotation.verifyFor (1h) must cover allowed.maxTtl (2h), or tokens would stop verifying before they expire',
    },
    {
      name: 'verifyFor shorter than the default maxTtl',
      spec: { signing: { rotation: { verifyFor: '12h' } } },
      message:
        'signing.rotation.verifyFor (12h) must cover allowed.maxTtl (24h), or tokens would stop verifying before they expire',
    },
    {
      name: 'publishAhead as long as every',
      spec: { signing: { rotation: { every: '1h', publishAhead: '60m' } } },
      message:
        'signing.rotation.publishAhead (60m) must be shorter than signing.rotation.every (1h), or a new key would never sign before the next one is made',
    },
    {
      name: 'a duration that does not parse',
      spec: { signing: { rotation: { every: '30d' } } },
      message: '"30d" is not a duration: write a number and a unit, such as 90s, 10m, 24h or 1h30m',
    },
  ])('refuses $name as InvalidSpec (terminal)', ({ spec, message }) => {
    const thrown = (() => {
      try {
        rotationSettings(issuer(spec));
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(TokensmithError);
    expect(thrown).toMatchObject({ code: 'InvalidSpec', retryable: false, message });
  });
});
