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
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false], // prefix and suffix may not overlap
    ['ab*ba', 'abba', true],
    ['**', '', true],
    ['*a*', 'bbb', false],
    ['orders:**:read', 'orders:x:read', true],
  ])('pattern %s matches %s: %s', (pattern, value, expected) => {
    expect(matchesPattern(pattern, value)).toBe(expected);
  });

  it('agrees with the regular-expression meaning of * on every short pattern and value', () => {
    const alphabet = ['a', 'b', '*'];
    const words = (n: number): string[] =>
      n === 0 ? [''] : words(n - 1).flatMap((w) => [w, ...alphabet.map((c) => w + c)]);
    const patterns = [...new Set(words(4))];
    const values = [...new Set(words(4))].filter((v) => !v.includes('*'));
    for (const pattern of patterns) {
      const regex = new RegExp(`^${pattern.split('*').join('.*')}$`);
      for (const value of values)
        expect(matchesPattern(pattern, value), `${pattern} ~ ${value}`).toBe(regex.test(value));
    }
  });

  it('answers a hostile pattern at once (a backtracking regex took 48 s for this)', () => {
    // Within the test's default timeout: the old regex-based matcher froze the event loop here.
    expect(matchesPattern('*a*a*a*a*a*b', 'a'.repeat(128))).toBe(false);
    expect(matchesPattern(`${'*a'.repeat(60)}*b`, 'a'.repeat(4096))).toBe(false);
    expect(
      checkGuardrails({ ...base, scopes: ['a'.repeat(4096)], allowed: { scopes: ['*a*a*a*a*a*b'] } }),
    ).toMatchObject({
      guardrail: 'scopes',
    });
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

  describe('identity', () => {
    const jwt: GuardrailInput = {
      ...base,
      policy: { namespace: 'team-a', name: 'checkout' },
      subject: 'system:tokenpolicy:team-a:checkout',
      claimNames: [],
    };

    it('allows the policy its own subject and nothing else by default', () => {
      expect(checkGuardrails(jwt)).toBeUndefined();
      expect(checkGuardrails({ ...jwt, subject: 'platform-admin' })).toEqual({
        guardrail: 'subjects',
        message:
          'jwt.subject "platform-admin" is not allowed by the issuer (allowed: "system:tokenpolicy:team-a:checkout"); ' +
          "leave jwt.subject unset for the policy's own subject",
      });
      // Another policy's subject in the same namespace is not its own either.
      expect(checkGuardrails({ ...jwt, subject: 'system:tokenpolicy:team-a:billing' })?.guardrail).toBe(
        'subjects',
      );
    });

    it.each<[string, string[], string, boolean]>([
      ['a namespace-bound pattern', ['svc:{namespace}:*'], 'svc:team-a:checkout', true],
      ['… not for another namespace', ['svc:{namespace}:*'], 'svc:team-b:checkout', false],
      ['the policy name', ['{namespace}/{name}'], 'team-a/checkout', true],
      ['a fixed subject', ['checkout'], 'checkout', true],
      ['anything, when the platform says so', ['*'], 'platform-admin', true],
    ])('allows subjects by %s', (_what, subjects, subject, allowed) => {
      const violation = checkGuardrails({ ...jwt, subject, allowed: { ...jwt.allowed, subjects } });
      expect(violation === undefined).toBe(allowed);
    });

    it('allows extra claims only by the names the issuer lists', () => {
      expect(checkGuardrails({ ...jwt, claimNames: ['tenant'] })).toEqual({
        guardrail: 'claims',
        message: 'claim "tenant" is not allowed by the issuer (it allows no extra claims)',
      });
      const allowed = { ...jwt.allowed, claims: ['tenant'] };
      expect(checkGuardrails({ ...jwt, claimNames: ['tenant'], allowed })).toBeUndefined();
      expect(checkGuardrails({ ...jwt, claimNames: ['tenant', 'roles', 'act'], allowed })).toEqual({
        guardrail: 'claims',
        message: 'claim "roles", "act" is not allowed by the issuer (allowed: "tenant")',
      });
    });

    it('bounds the refresh token by maxRefreshTtl', () => {
      const allowed = { ...jwt.allowed, maxRefreshTtl: '720h' };
      expect(checkGuardrails({ ...jwt, refreshTtl: '720h', allowed })).toBeUndefined();
      expect(checkGuardrails({ ...jwt, refreshTtl: '721h', allowed })).toEqual({
        guardrail: 'maxRefreshTtl',
        message: "token.refresh.ttl 721h exceeds the issuer's maxRefreshTtl 720h",
      });
    });

    it('leaves opaque tokens (no subject, no claims) to the other guardrails', () => {
      expect(checkGuardrails({ ...base, policy: { namespace: 'n', name: 'p' } })).toBeUndefined();
    });
  });
});
