import { describe, expect, it } from 'vitest';
import { checkGuardrails, matchesPattern, type GuardrailInput } from '../../../src/core/guardrails.ts';

const base: GuardrailInput = {
  audiences: ['orders-api'],
  scopes: ['orders:read', 'orders:write'],
  ttl: '24h',
  allowed: { audiences: ['orders-api'], scopes: ['orders:*'], maxTtl: '72h' },
};

describe('guardrails', () => {
  it.each([
    ['orders:*', 'orders:read', true],
    ['orders:*', 'orders:', true],
    ['orders:*', 'billing:read', false],
    ['orders:read', 'orders:read', true],
    ['orders:read', 'orders:readx', false],
    ['*', 'anything', true],
    ['a.b', 'axb', false], // '.' is literal, not a regex wildcard
    ['*-api', 'orders-api', true],
  ])('pattern %s matches %s: %s', (pattern, value, expected) => {
    expect(matchesPattern(pattern, value)).toBe(expected);
  });

  it('accepts a policy within every guardrail', () => {
    expect(checkGuardrails(base)).toBeUndefined();
  });

  it('accepts anything for a guardrail the issuer does not set', () => {
    expect(checkGuardrails({ ...base, scopes: ['admin'], allowed: {} })).toBeUndefined();
  });

  it.each<[string, Partial<GuardrailInput>, { guardrail: string; message: string }]>([
    [
      'audience',
      { audiences: ['orders-api', 'billing-api'] },
      {
        guardrail: 'audiences',
        message: 'audience "billing-api" is not allowed by the issuer (allowed: "orders-api")',
      },
    ],
    [
      'scope',
      { scopes: ['orders:read', 'billing:write'] },
      {
        guardrail: 'scopes',
        message: 'scope "billing:write" is not allowed by the issuer (allowed: "orders:*")',
      },
    ],
    [
      'ttl',
      { ttl: '73h' },
      { guardrail: 'maxTtl', message: "token.ttl 73h exceeds the issuer's maxTtl 72h" },
    ],
    [
      'empty allow-list',
      { allowed: { scopes: [] } },
      {
        guardrail: 'scopes',
        message: 'scope "orders:read", "orders:write" is not allowed by the issuer (allowed: )',
      },
    ],
  ])('names the %s guardrail that is violated', (_what, change, expected) => {
    expect(checkGuardrails({ ...base, ...change })).toEqual(expected);
  });
});
