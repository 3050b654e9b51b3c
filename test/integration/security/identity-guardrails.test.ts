/**
 * The identity a ClusterTokenIssuer signs is the platform's to limit, against the real servers. A
 * tenant's policy may not choose its JWT subject (it gets `system:tokenpolicy:<ns>:<name>` unless
 * the issuer allows others), may not add claims the issuer does not name (`roles`, `act`, …), and
 * may not ask for a refresh token that outlives the issuer's maxRefreshTtl (or a year: the CRD's
 * own limit). Each is Ready=False with the guardrail named, and no token is minted for it.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPolicySpec } from '../../../src/api/v1alpha1.generated.ts';
import { uniqueName } from '../../support/environment.ts';
import { startInNamespace, type TestOperator } from '../../support/operator.ts';
import {
  createReadyClusterIssuer,
  createPolicy,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';

let namespace: string;
let operator: TestOperator;
let issuer: string;

beforeAll(async () => {
  let transitMount: string;
  ({ namespace, transitMount, operator } = await startInNamespace('identity'));
  issuer = await createReadyClusterIssuer('identity', transitMount, {
    allowed: { scopes: ['orders:*'], maxTtl: '1h', maxRefreshTtl: '24h' },
  });
});

afterAll(async () => {
  await operator.stop();
});

function jwtPolicy(
  jwt: NonNullable<TokenPolicySpec['token']['jwt']>,
  token: Partial<TokenPolicySpec['token']> = {},
) {
  return (name: string): TokenPolicySpec => ({
    issuerRef: { name: issuer },
    token: { type: 'jwt', ttl: '1h', scopes: ['orders:read'], jwt, ...token },
    secret: { name },
  });
}

describe('identity guardrails of a ClusterTokenIssuer', () => {
  it.each<[string, (name: string) => TokenPolicySpec, RegExp]>([
    [
      'a subject of its choosing',
      jwtPolicy({ audience: ['orders-api'], subject: 'platform-admin' }),
      /jwt.subject "platform-admin" is not allowed by the issuer .*\(guardrail subjects\)/,
    ],
    [
      "another policy's subject",
      jwtPolicy({ audience: ['orders-api'], subject: 'system:tokenpolicy:kube-system:other' }),
      /is not allowed by the issuer .*\(guardrail subjects\)/,
    ],
    [
      'claims the issuer does not name',
      jwtPolicy({ audience: ['orders-api'], claims: { roles: ['admin'], act: { sub: 'root' } } }),
      /claim "act", "roles" is not allowed by the issuer \(it allows no extra claims\) \(guardrail claims\)/,
    ],
    [
      'a refresh token beyond maxRefreshTtl',
      jwtPolicy({ audience: ['orders-api'] }, { refresh: { enabled: true, ttl: '48h' } }),
      /token.refresh.ttl 48h exceeds the issuer's maxRefreshTtl 24h \(guardrail maxRefreshTtl\)/,
    ],
  ])('refuses %s, and mints nothing', async (_what, spec, message) => {
    const name = uniqueName('p');
    await createPolicy(namespace, name, spec(name));
    const policy = await waitForPolicy(namespace, name, 'False/GuardrailViolated');
    expect(policy.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(message);
    expect(policy.status?.currentVersion).toBeUndefined();
    expect(await secretData(namespace, name)).toBeUndefined();
  });

  it('refuses a refresh token of more than a year at apply', async () => {
    await expect(
      createPolicy(namespace, 'forever', {
        ...jwtPolicy(
          { audience: ['orders-api'] },
          { refresh: { enabled: true, ttl: '2562047h' } },
        )('forever'),
      }),
    ).rejects.toThrow(/token.refresh.ttl must be at most 8760h/);
  });

  it("signs the policy's own subject by default", async () => {
    await createPolicy(namespace, 'own', jwtPolicy({ audience: ['orders-api'] })('own'));
    await waitForPolicy(namespace, 'own', 'True/Issued');
    const claims = decodeJwt((await secretData(namespace, 'own'))?.TOKEN ?? '');
    expect(claims.sub).toBe(`system:tokenpolicy:${namespace}:own`);
    expect((await readPolicy(namespace, 'own'))?.status?.currentVersion).toBe(1);
  });
});
