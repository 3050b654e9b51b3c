/**
 * A leaked signing key (`tokensmith.dev/rotate-key=leaked[:anything]`) against the real
 * kube-apiserver and Vault, on both key backends: the key is rotated and the old one leaves the
 * published JWKS at once, so JWTs it signed stop verifying; every JWT policy of the issuer
 * replaces them with no overlap (revoked with reason KeyCompromised), opaque tokens are untouched,
 * Events say why on the issuer and on each policy, and the same value again does nothing. Then
 * crash safety: a controller that died after recording the leak, or after retiring the key but
 * before any policy re-minted, is replaced by one that converges — one rotation, every JWT on the
 * new key.
 *
 * TokenIssuers (namespaced) keep other test files' controllers away from these keys; the real
 * clock is used, since nothing here waits for a time to pass.
 */
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenIssuer, TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import { defaultPathPrefix } from '../../../src/issuers/identity.ts';
import { createNamespace, uniqueName, vaultClient } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  annotateObject,
  publishedJwks,
  createPolicy,
  customObjects,
  readPolicy,
  secretData,
  waitForPolicy,
  waitUntil,
  eventsAbout,
} from '../../support/resources.ts';
import { issuerVaultSide } from '../../support/issuerVaultSide.ts';
import { client, closeClients } from '../vault/support.ts';

const ISS = 'https://tokens.leak.example';
const G = { group: 'tokensmith.dev', version: 'v1alpha1' };
let namespace: string;
let transitMount: string;
let operator: TestOperator;

type Backend = 'transit' | 'kv';

async function createIssuer(name: string, backend: Backend): Promise<TokenIssuer> {
  await customObjects().createNamespacedCustomObject({
    ...G,
    plural: 'tokenissuers',
    namespace,
    body: {
      apiVersion: 'tokensmith.dev/v1alpha1',
      kind: 'TokenIssuer',
      metadata: { name },
      spec: { issuer: ISS, signing: { backend } },
    },
  });
  return issuerWhen(
    name,
    'issuer ready',
    (i) =>
      i.status?.observedGeneration === i.metadata?.generation &&
      i.status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'KeyReady',
  );
}

async function readIssuer(name: string): Promise<TokenIssuer> {
  return (await customObjects().getNamespacedCustomObject({
    ...G,
    plural: 'tokenissuers',
    namespace,
    name,
  })) as TokenIssuer;
}

/** Waits until `check` holds for the issuer; returns it. */
async function issuerWhen(name: string, what: string, check: (i: TokenIssuer) => boolean) {
  await waitUntil(
    what,
    async () => check(await readIssuer(name)),
    true,
    20_000,
    async () => JSON.stringify((await readIssuer(name)).status),
  );
  return readIssuer(name);
}

/** Waits until `check` holds for the policy; returns it. */
async function policyWhen(name: string, what: string, check: (p: TokenPolicy) => boolean) {
  const read = async () => (await readPolicy(namespace, name)) ?? ({} as TokenPolicy);
  await waitUntil(
    what,
    async () => check(await read()),
    true,
    20_000,
    async () => JSON.stringify((await read()).status),
  );
  return read();
}

function verify(token: string, jwks: JSONWebKeySet) {
  return jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISS,
    audience: 'orders-api',
    algorithms: ['EdDSA'],
  });
}

const kidOf = (token: string | undefined) => decodeProtectedHeader(token ?? '').kid;

/** `Reason: note` of the Events about an object. */
const events = (uid: string | undefined) => eventsAbout(namespace, uid);

/** A JWT policy (`jwt`) or an opaque one on the issuer, Issued. */
async function policy(issuer: string, type: 'jwt' | 'opaque'): Promise<string> {
  const name = uniqueName(type);
  await createPolicy(namespace, name, {
    issuerRef: { kind: 'TokenIssuer', name: issuer },
    token: { type, ...(type === 'jwt' ? { jwt: { audience: ['orders-api'] } } : {}), ttl: '1h' },
    rotation: { overlap: '30m' },
    secret: { name },
  });
  await waitForPolicy(namespace, name, 'True/Issued');
  return name;
}

const token = async (name: string) => (await secretData(namespace, name))?.TOKEN;

/** The policy's versions as `version state kid revokeReason mintReason`, newest first. */
const versions = (p: TokenPolicy) =>
  (p.status?.versions ?? []).map((v) =>
    [v.version, v.state, v.kid ?? '-', v.revokeReason ?? '-', v.mintReason ?? '-'].join(' '),
  );

beforeAll(async () => {
  namespace = await createNamespace('key-leak');
  transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount }));
});

afterAll(async () => {
  await operator.stop();
  closeClients();
});

describe.each(['transit', 'kv'] as const)('a leaked %s signing key', (backend) => {
  it('leaves the JWKS at once and every JWT it signed is replaced; opaque tokens are untouched', async () => {
    const issuerName = uniqueName(`leak-${backend}`);
    const created = await createIssuer(issuerName, backend);
    const oldKid = created.status?.activeKid;
    // jwtA: version 2 active, version 1 retiring (its overlap running), both on the old key.
    const [jwtA, jwtB, opaque] = [
      await policy(issuerName, 'jwt'),
      await policy(issuerName, 'jwt'),
      await policy(issuerName, 'opaque'),
    ];
    const retiringA = await token(jwtA);
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: jwtA },
      { 'tokensmith.dev/rotate': '1' },
    );
    await policyWhen(jwtA, 'jwtA rotated', (p) => p.status?.currentVersion === 2);
    const before = { a: await token(jwtA), b: await token(jwtB), opaque: await token(opaque) };
    for (const t of [retiringA, before.a, before.b]) expect(kidOf(t)).toBe(oldKid);
    const jwksBefore = await publishedJwks(created);
    await expect(verify(before.a ?? '', jwksBefore.configMap)).resolves.toBeDefined();

    await annotateObject(
      { plural: 'tokenissuers', namespace, name: issuerName },
      { 'tokensmith.dev/rotate-key': 'leaked:1' },
    );
    const leaked = await issuerWhen(
      issuerName,
      'old key compromised and retired',
      (i) => i.status?.handledRequests?.rotateKey === 'leaked:1' && i.status.keys?.[1]?.state === 'retired',
    );
    const newKid = leaked.status?.activeKid;
    expect(newKid).not.toBe(oldKid);
    expect(leaked.status?.keys).toEqual([
      expect.objectContaining({ kid: newKid, version: 2, state: 'active' }),
      expect.objectContaining({ kid: oldKid, version: 1, state: 'retired', compromised: true }),
    ]);
    expect(leaked.status?.keys?.[0]?.compromised).toBeUndefined();
    expect(leaked.status?.compromisedKids).toEqual([
      { kid: oldKid, version: 1, compromisedAt: expect.any(String) as string },
    ]);

    // The published JWKS (ConfigMap the status points to, and the Vault copy) holds only the new key.
    const jwks = await publishedJwks(leaked);
    expect(jwks.configMap.keys.map((k) => k.kid)).toEqual([newKid]);
    expect(jwks.vault).toEqual(jwks.configMap);
    for (const t of [retiringA, before.a, before.b]) {
      await expect(verify(t ?? '', jwks.configMap)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    }

    // Both JWT policies hold a new JWT on the new key that verifies; the replaced versions are revoked.
    const a = await policyWhen(jwtA, 'jwtA re-minted', (p) => p.status?.currentVersion === 3);
    const b = await policyWhen(jwtB, 'jwtB re-minted', (p) => p.status?.currentVersion === 2);
    expect(versions(a)).toEqual([
      `3 active ${newKid ?? ''} - KeyCompromised`,
      `2 revoked ${oldKid ?? ''} KeyCompromised Requested`,
      `1 revoked ${oldKid ?? ''} KeyCompromised Initial`,
    ]);
    expect(versions(b)).toEqual([
      `2 active ${newKid ?? ''} - KeyCompromised`,
      `1 revoked ${oldKid ?? ''} KeyCompromised Initial`,
    ]);
    for (const name of [jwtA, jwtB]) {
      const now = await token(name);
      expect(kidOf(now)).toBe(newKid);
      await expect(verify(now ?? '', jwks.configMap)).resolves.toBeDefined();
    }
    // Revoked in Vault too, where introspection looks.
    const record = await vaultRecord(leaked, jwtB);
    expect(record.versions.map((v) => [v.version, v.state, v.revokeReason])).toEqual([
      [1, 'revoked', 'KeyCompromised'],
      [2, 'active', undefined],
    ]);

    // The opaque policy is untouched.
    expect(await token(opaque)).toBe(before.opaque);
    const opaquePolicy = await readPolicy(namespace, opaque);
    expect(versions(opaquePolicy ?? ({} as TokenPolicy))).toEqual(['1 active - - Initial']);

    // Events say why: on the issuer, and on each JWT policy.
    await expect
      .poll(() => events(leaked.metadata?.uid))
      .toEqual(
        expect.arrayContaining([
          `KeyCompromised: signing key kid ${oldKid ?? ''} (version 1) is compromised (tokensmith.dev/rotate-key=leaked): retired at once, it left the JWKS; every token it signed is re-minted by its policy`,
          `KeyRotated: signing key rotated (Compromised): kid ${newKid ?? ''} (version 2) signs from now on; kid ${oldKid ?? ''} is compromised and leaves the JWKS at once`,
        ]),
      );
    await expect
      .poll(() => events(a.metadata?.uid))
      .toEqual(
        expect.arrayContaining([
          'Revoked: revoked token version(s) 1 (KeyCompromised)',
          'Rotated: token version 3 published to the Secret (KeyCompromised); version 2 revoked at once',
        ]),
      );
    await expect
      .poll(() => events(b.metadata?.uid))
      .toContain(
        'Rotated: token version 2 published to the Secret (KeyCompromised); version 1 revoked at once',
      );

    // The same value again (with the issuer touched, and a restarted controller) does nothing.
    await operator.stop();
    operator = await startTestOperator(operator.config);
    await annotateObject(
      { plural: 'tokenissuers', namespace, name: issuerName },
      { 'tokensmith.dev/rotate-key': 'leaked:1', touched: 'yes' },
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(operator.logs()).not.toContain('signing key rotated');
    const after = await readIssuer(issuerName);
    expect(after.status?.keys?.map((k) => [k.version, k.state])).toEqual([
      [2, 'active'],
      [1, 'retired'],
    ]);
    expect((await readPolicy(namespace, jwtA))?.status?.currentVersion).toBe(3);
    expect((await readPolicy(namespace, jwtB))?.status?.currentVersion).toBe(2);
    expect(await token(opaque)).toBe(before.opaque);
  });
});

/** The policy's record in Vault, read with the root token. */
async function vaultRecord(issuer: TokenIssuer, name: string): Promise<PolicyTokenRecord> {
  const pathPrefix = defaultPathPrefix(issuer, operator.config.vault.pathPrefix);
  const path = `secret/data/${pathPrefix}/policies/${namespace}/${name}`;
  return ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
}

describe('a leaked key across crashes (transit)', () => {
  /** The adapters the controller uses for the issuer, to replay what it did before a crash. */
  const vaultSide = (issuer: TokenIssuer) =>
    issuerVaultSide(client(), issuer, { operatorPathPrefix: operator.config.vault.pathPrefix, transitMount });

  it.each([
    { died: 'after recording the leak, before rotating', rotated: false },
    { died: 'after retiring the key, before any policy re-minted', rotated: true },
  ])('a controller that died $died is replaced by one that converges', async ({ rotated }) => {
    const issuerName = uniqueName('leak-crash');
    const issuer = await createIssuer(issuerName, 'transit');
    const oldKid = issuer.status?.activeKid ?? '';
    const jwt = await policy(issuerName, 'jwt');

    await operator.stop();
    try {
      // What the controller had done when it died: the request recorded as handled, the rotation
      // claimed and the key compromised (one check-and-set write), then perhaps rotate and retire.
      await annotateObject(
        { plural: 'tokenissuers', namespace, name: issuerName },
        { 'tokensmith.dev/rotate-key': 'leaked:crash' },
      );
      const { state, keys } = vaultSide(issuer);
      const at = new Date().toISOString();
      await state.write(
        {
          rotateKey: 'leaked:crash',
          rotation: { fromKid: oldKid, reason: 'Compromised', at },
          compromised: [{ kid: oldKid, version: 1, at }],
        },
        (await state.read())?.casVersion ?? 0,
      );
      if (rotated) {
        await keys.rotate();
        await keys.retireBelow(2);
      }
    } finally {
      operator = await startTestOperator(operator.config);
    }

    const converged = await issuerWhen(
      issuerName,
      'leak handled',
      (i) => i.status?.compromisedKids?.[0]?.kid === oldKid && i.status.keys?.[1]?.state === 'retired',
    );
    const newKid = converged.status?.activeKid;
    // Exactly one rotation: the request was not acted on again.
    expect(converged.status?.keys?.map((k) => [k.version, k.state, k.compromised])).toEqual([
      [2, 'active', undefined],
      [1, 'retired', true],
    ]);
    expect(converged.status?.handledRequests?.rotateKey).toBe('leaked:crash');
    const jwks = await publishedJwks(converged);
    expect(jwks.configMap.keys.map((k) => k.kid)).toEqual([newKid]);

    const p = await policyWhen(jwt, 're-minted', (x) => x.status?.currentVersion === 2);
    expect(versions(p)).toEqual([
      `2 active ${newKid ?? ''} - KeyCompromised`,
      `1 revoked ${oldKid} KeyCompromised Initial`,
    ]);
    const now = await token(jwt);
    expect(kidOf(now)).toBe(newKid);
    await expect(verify(now ?? '', jwks.configMap)).resolves.toBeDefined();
    if (!rotated) {
      await expect
        .poll(() => events(converged.metadata?.uid))
        .toContainEqual(
          expect.stringMatching(
            /^KeyRotated: signing key rotated \(Compromised, resumed after an interrupted attempt\)/,
          ),
        );
    }
  });
});
