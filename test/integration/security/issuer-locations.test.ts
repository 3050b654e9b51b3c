/**
 * Attacks on where an issuer's things live, by a tenant with rights only in its own namespace,
 * against the real servers. A namespaced TokenIssuer that uses tokensmith's own Vault credentials
 * must not sign with another issuer's key (key squatting: the tenant names the transit key of the
 * ClusterTokenIssuer `<tenant>-iss`, whose old default `tokensmith-<tenant>-iss` passed a prefix
 * check, and gets JWTs that verify against the platform's JWKS) nor write into another issuer's
 * folder (folder squatting); and two issuers whose (namespace, name) pairs join to the same string
 * — (team, b-x) and (team-b, x) — must not share a default key or folder.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenIssuer } from '../../../src/api/v1alpha1.generated.ts';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import { createNamespace, vaultClient } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createClusterIssuer,
  createPolicy,
  createTokenIssuer,
  publishedJwks,
  secretData,
  waitForIssuer,
  waitForPolicy,
} from '../../support/resources.ts';

let tenant: string;
let team: string;
let teamB: string;
let platform: string;
let transitMount: string;
let operator: TestOperator;

beforeAll(async () => {
  tenant = await createNamespace('chaos');
  team = await createNamespace('team');
  teamB = await createNamespace(`${team}-b`); // team-<r1>-b-<r2>
  transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator({
    ...testConfig({ namespace: tenant, transitMount }),
    namespaces: [tenant, team, teamB],
  });
  // The platform's issuer, named like the tenant's namespace plus a suffix.
  platform = `${tenant}-iss`;
  await createClusterIssuer(platform, {
    issuer: 'https://tokens.platform.example',
    signing: { transitMount },
  });
  await waitForIssuer(platform, 'True/KeyReady');
});

afterAll(async () => {
  await operator.stop();
});

const refusal = /a TokenIssuer that uses tokensmith's own Vault credentials cannot choose/;

describe('a TokenIssuer on tokensmith credentials', () => {
  it("cannot sign with the platform issuer's transit key (key squatting)", async () => {
    for (const keyName of [`tokensmith-${platform}`, `tokensmith_cluster_${platform}`]) {
      await expect(
        createTokenIssuer(tenant, `squat-${keyName.length}`, {
          issuer: 'https://tokens.platform.example',
          signing: { keyName },
          allowed: { maxTtl: '1h' },
        }),
      ).rejects.toThrow(refusal);
    }
    // Naming the platform's mount explicitly is no way around it either.
    await expect(
      createTokenIssuer(tenant, 'squat-mount', {
        issuer: 'https://tokens.platform.example',
        signing: { transitMount },
      }),
    ).rejects.toThrow(refusal);
  });

  it("cannot put its records in the platform issuer's folder (folder squatting)", async () => {
    const prefix = operator.config.vault.pathPrefix;
    for (const vault of [
      { pathPrefix: `${prefix}/${platform}` },
      { pathPrefix: `${prefix}/cluster/${platform}` },
      { mount: 'secret' },
    ]) {
      await expect(
        createTokenIssuer(tenant, 'squat-folder', { issuer: 'https://tokens.platform.example', vault }),
      ).rejects.toThrow(refusal);
    }
  });

  it('gets a key and a folder of its own, even when (namespace, name) pairs join alike', async () => {
    // (team, b-x) and (team-b, x): with "-" joining parts both were tokensmith-team-b-x.
    const xName = teamB.slice(team.length + 1); // b-<r2>
    const pairs: [string, string][] = [
      [team, `${xName}-x`],
      [teamB, 'x'],
    ];
    // `${team}-${xName}-x` === `${teamB}-x`: the two default names of old collide.
    expect(`${team}-${xName}-x`).toBe(`${teamB}-x`);
    for (const [namespace, name] of pairs) {
      await createTokenIssuer(namespace, name, { issuer: `https://tokens.${namespace}.example` });
      await createPolicy(namespace, 'api', {
        issuerRef: { kind: 'TokenIssuer', name },
        token: { type: 'jwt', ttl: '1h', jwt: { audience: ['api'] } },
        secret: { name: 'api' },
      });
    }
    const issuers: TokenIssuer[] = [];
    for (const [namespace, name] of pairs) {
      issuers.push((await waitForIssuer(name, 'True/KeyReady', 30_000, namespace)) as TokenIssuer);
      await waitForPolicy(namespace, 'api', 'True/Issued');
    }
    const [first, second] = issuers as [TokenIssuer, TokenIssuer];
    expect(first.status?.activeKid).toBeTruthy();
    expect(first.status?.activeKid).not.toBe(second.status?.activeKid);

    // A JWT of one verifies against its own JWKS and not against the other's.
    const token = (await secretData(team, 'api'))?.TOKEN ?? '';
    const own = createLocalJWKSet((await publishedJwks(first)).configMap);
    const other = createLocalJWKSet((await publishedJwks(second)).configMap);
    await expect(jwtVerify(token, own)).resolves.toBeTruthy();
    await expect(jwtVerify(token, other)).rejects.toThrow();

    // Records live under the issuer's own root: <prefix>/namespaces/<namespace>/<issuer>/….
    const prefix = operator.config.vault.pathPrefix;
    for (const [namespace, name] of pairs) {
      const path = `secret/data/${prefix}/namespaces/${namespace}/${name}/policies/${namespace}/api`;
      const record = ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
      expect(record.policy).toMatchObject({ namespace, name: 'api' });
    }
    // And the transit keys are two, named with a separator no Kubernetes name can hold.
    const keys = (
      (await vaultClient().request({ path: `/${transitMount}/keys?list=true`, method: 'GET' })) as {
        data: { keys: string[] };
      }
    ).data.keys;
    expect(keys).toEqual(
      expect.arrayContaining([`tokensmith_ns_${team}_${xName}-x`, `tokensmith_ns_${teamB}_x`]),
    );
  });
});
