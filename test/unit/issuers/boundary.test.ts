import { describe, expect, it } from 'vitest';
import type { TokenIssuer, TokenIssuerSpec } from '../../../src/api/v1alpha1.generated.ts';
import { boundaryProblem } from '../../../src/issuers/boundary.ts';

const config = { vault: { pathPrefix: 'tokensmith' } } as Parameters<typeof boundaryProblem>[1];

function tokenIssuer(spec: Partial<TokenIssuerSpec>): TokenIssuer {
  return {
    apiVersion: 'tokensmith.dev/v1alpha1',
    kind: 'TokenIssuer',
    metadata: { name: 'team-issuer', namespace: 'team-a' },
    spec: { issuer: 'https://tokens.team-a.example', ...spec },
  };
}

describe('TokenIssuer boundary', () => {
  it.each<[string, Partial<TokenIssuerSpec>]>([
    ['defaults', {}],
    [
      'its own server with its own credentials',
      { vault: { address: 'https://vault.team-a', auth: { token: { secretRef: { name: 't' } } } } },
    ],
    [
      'Kubernetes auth as a service account of its namespace',
      { vault: { auth: { kubernetes: { role: 'r', serviceAccountRef: { name: 'sa' } } } } },
    ],
    ['a folder below its namespace prefix', { vault: { pathPrefix: 'tokensmith/team-a/payments' } }],
    ['a key name of its namespace', { signing: { keyName: 'tokensmith-team-a-payments' } }],
  ])('allows %s', (_what, spec) => {
    expect(boundaryProblem(tokenIssuer(spec), config)).toBeUndefined();
  });

  it.each<[string, Partial<TokenIssuerSpec>, RegExp]>([
    [
      'tokensmith credentials sent to its server',
      { vault: { address: 'https://evil.example' } },
      /must also set spec.vault.auth/,
    ],
    [
      'a CA of its choosing with tokensmith credentials',
      { vault: { caBundle: 'PEM' } },
      /must also set spec.vault.auth/,
    ],
    [
      "tokensmith's own service-account token",
      { vault: { auth: { kubernetes: { role: 'r' } } } },
      /must name spec.vault.auth.kubernetes.serviceAccountRef/,
    ],
    [
      "another namespace's records",
      { vault: { pathPrefix: 'tokensmith/team-b' } },
      /pathPrefix must be tokensmith\/team-a or a folder below/,
    ],
    [
      'a sibling prefix that only starts alike',
      { vault: { pathPrefix: 'tokensmith/team-ab' } },
      /pathPrefix must be/,
    ],
    [
      "another issuer's signing key",
      { signing: { keyName: 'tokensmith-payments' } },
      /keyName must start with tokensmith-team-a-/,
    ],
  ])('refuses %s', (_what, spec, message) => {
    expect(boundaryProblem(tokenIssuer(spec), config)).toMatch(message);
  });

  it('does not limit ClusterTokenIssuers (platform-owned)', () => {
    const cluster = {
      ...tokenIssuer({ vault: { address: 'https://vault.other' } }),
      kind: 'ClusterTokenIssuer' as const,
    };
    expect(boundaryProblem(cluster, config)).toBeUndefined();
  });
});
