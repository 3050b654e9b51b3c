import { describe, expect, it } from 'vitest';
import type { TokenIssuer, TokenIssuerSpec } from '../../../src/api/v1alpha1.generated.ts';
import { boundaryProblem } from '../../../src/issuers/boundary.ts';
import { defaultKeyName, defaultPathPrefix } from '../../../src/issuers/identity.ts';

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
    [
      'locations of its choosing with credentials of its own (its Vault policy is the boundary)',
      {
        vault: { mount: 'kv', pathPrefix: 'team-a/tokens', auth: { token: { secretRef: { name: 't' } } } },
        signing: { transitMount: 'team-a-transit', keyName: 'team-a-key' },
      },
    ],
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
      "another issuer's records on tokensmith credentials",
      { vault: { pathPrefix: 'tokensmith/cluster/payments' } },
      /cannot choose spec.vault.pathPrefix: tokensmith keeps its records under tokensmith\/namespaces\/team-a\/team-issuer/,
    ],
    [
      'a KV mount on tokensmith credentials',
      { vault: { mount: 'secret' } },
      /cannot choose spec.vault.mount/,
    ],
    [
      "another issuer's signing key on tokensmith credentials",
      { signing: { keyName: 'tokensmith_cluster_payments' } },
      /cannot choose spec.signing.keyName: .* its key as tokensmith_ns_team-a_team-issuer/,
    ],
    [
      'a transit mount on tokensmith credentials',
      { signing: { transitMount: 'transit' } },
      /cannot choose spec.signing.transitMount/,
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

describe('default issuer locations', () => {
  const issuer = (kind: 'TokenIssuer' | 'ClusterTokenIssuer', namespace: string, name: string) =>
    ({ kind, metadata: { name, ...(kind === 'TokenIssuer' ? { namespace } : {}) }, spec: {} }) as TokenIssuer;
  // Pairs whose parts join alike with "-" (or "/"), and cluster names that look like namespaced ones.
  const all = [
    issuer('TokenIssuer', 'team', 'b-x'),
    issuer('TokenIssuer', 'team-b', 'x'),
    issuer('TokenIssuer', 'team', 'b'),
    issuer('TokenIssuer', 'ns', 'team'),
    issuer('ClusterTokenIssuer', '', 'team-b-x'),
    issuer('ClusterTokenIssuer', '', 'ns-team'),
    issuer('ClusterTokenIssuer', '', 'team.b'),
  ];

  it('give no two issuers the same transit key or KV root', () => {
    expect(new Set(all.map(defaultKeyName)).size).toBe(all.length);
    expect(new Set(all.map((i) => defaultPathPrefix(i, 'tokensmith'))).size).toBe(all.length);
    // No root is inside another's.
    const roots = all.map((i) => `${defaultPathPrefix(i, 'tokensmith')}/`);
    for (const a of roots) for (const b of roots) if (a !== b) expect(a.startsWith(b)).toBe(false);
  });

  it('are shaped as the README says', () => {
    expect(defaultKeyName(issuer('TokenIssuer', 'team', 'b-x'))).toBe('tokensmith_ns_team_b-x');
    expect(defaultKeyName(issuer('ClusterTokenIssuer', '', 'payments'))).toBe('tokensmith_cluster_payments');
    expect(defaultPathPrefix(issuer('TokenIssuer', 'team', 'b-x'), 'p')).toBe('p/namespaces/team/b-x');
    expect(defaultPathPrefix(issuer('ClusterTokenIssuer', '', 'payments'), 'p')).toBe('p/cluster/payments');
  });
});
