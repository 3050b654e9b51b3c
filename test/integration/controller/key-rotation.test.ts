/**
 * Signing-key rotation of issuers against the real kube-apiserver and Vault, on both key backends:
 * a rotation per rotate-key value, the new key published in the JWKS publishAhead before it signs
 * (JWTs minted meanwhile stay on the old kid), JWTs minted before it verifying against the
 * published JWKS until verifyFor ends and not after, new JWTs on the new kid, status and Events,
 * rotation on schedule, and a requested rotation made exactly once across crashes.
 *
 * The CRD's minimums are kept (every ≥ 1h; verifyFor ≥ allowed.maxTtl ≥ 1m, since token.ttl ≥
 * 1m): the controller runs on a ShiftableClock, so the test moves its time forward by minutes or
 * an hour at once instead of sleeping; its requeue timers fire as they would after real time.
 * TokenIssuers (namespaced) keep other test files' controllers, which watch every
 * ClusterTokenIssuer, away from these keys.
 */
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenIssuer, TokenIssuerSpec } from '../../../src/api/v1alpha1.generated.ts';
import { createNamespace, uniqueName } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  annotateObject,
  publishedJwks,
  createPolicy,
  customObjects,
  secretData,
  waitForPolicy,
  waitUntil,
  eventsAbout,
} from '../../support/resources.ts';
import { ShiftableClock } from '../../support/shiftableClock.ts';
import { issuerVaultSide } from '../../support/issuerVaultSide.ts';
import { client, closeClients } from '../vault/support.ts';
import { jwt, onIssuer, tokenPolicy, ttl } from '../../support/policies.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const VERIFY_FOR = 2 * MINUTE;
const PUBLISH_AHEAD = 5 * MINUTE;
const ISS = 'https://tokens.keys.example';
const G = { group: 'tokensmith.dev', version: 'v1alpha1', plural: 'tokenissuers' };
const clock = new ShiftableClock();
let namespace: string;
let transitMount: string;
let operator: TestOperator;

type Backend = 'transit' | 'kv';

function spec(backend: Backend): TokenIssuerSpec {
  return {
    issuer: ISS,
    signing: { backend, rotation: { every: '1h', verifyFor: '2m', publishAhead: '5m' } },
    allowed: { maxTtl: '1m' },
  };
}

async function createIssuer(name: string, backend: Backend, annotations?: Record<string, string>) {
  await customObjects().createNamespacedCustomObject({
    ...G,
    namespace,
    body: {
      apiVersion: 'tokensmith.dev/v1alpha1',
      kind: 'TokenIssuer',
      metadata: { name, ...(annotations ? { annotations } : {}) },
      spec: spec(backend),
    },
  });
}

async function readIssuer(name: string): Promise<TokenIssuer> {
  return (await customObjects().getNamespacedCustomObject({ ...G, namespace, name })) as TokenIssuer;
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

const ready = (i: TokenIssuer) =>
  i.status?.observedGeneration === i.metadata?.generation &&
  i.status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'KeyReady';

const kids = (jwks: JSONWebKeySet) => jwks.keys.map((k) => k.kid);

/** Verifies `token` against `jwks` as of its issue time: only the key decides. */
function verify(token: string, jwks: JSONWebKeySet) {
  return jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISS,
    audience: 'orders-api',
    algorithms: ['EdDSA'],
    currentDate: new Date((decodeJwt(token).iat ?? 0) * 1000),
  });
}

/** A JWT policy on the issuer; returns the JWT its Secret holds. */
async function mintThrough(issuer: string): Promise<string> {
  const name = uniqueName('jwt');
  await createPolicy(
    namespace,
    tokenPolicy(name, onIssuer(issuer, 'TokenIssuer'), jwt(['orders-api']), ttl('1m')),
  );
  await waitForPolicy(namespace, name, 'True/Issued');
  return (await secretData(namespace, name))?.TOKEN ?? '';
}

/** `Reason: note` of the Events about the issuer. */
const events = (issuer: TokenIssuer) => eventsAbout(namespace, issuer.metadata?.uid);

const until = (iso: string | undefined) => new Date(iso ?? 0).getTime() - clock.now().getTime();

beforeAll(async () => {
  namespace = await createNamespace('key-rotation');
  transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(
    testConfig({ namespace, transitMount, minRotationIntervalMs: 10_000 }),
    clock,
  );
});

afterAll(async () => {
  await operator.stop();
  closeClients();
});

// First, while the controller's clock still agrees with Vault's: the tests below move it hours
// ahead, which makes every new transit key (dated by Vault) look due for rotation at once.
describe('a requested rotation across crashes (transit)', () => {
  /** The adapters the controller uses for the issuer, to replay what it did before a crash. */
  const vaultSide = (issuer: TokenIssuer) =>
    issuerVaultSide(client(), issuer, { operatorPathPrefix: operator.config.vault.pathPrefix, transitMount });

  /** Stops the controller, runs `whileDown`, starts a new one (same config and clock). */
  async function crashAndRestart(whileDown: () => Promise<void>) {
    await operator.stop();
    try {
      await whileDown();
    } finally {
      operator = await startTestOperator(operator.config, clock);
    }
  }

  async function readyIssuer(): Promise<TokenIssuer> {
    const name = uniqueName('crash');
    await createIssuer(name, 'transit');
    return issuerWhen(name, 'issuer ready', ready);
  }

  it('is not made again after a crash between rotate() and the status write', async () => {
    const issuer = await readyIssuer();
    const name = issuer.metadata?.name ?? '';
    const kid1 = issuer.status?.activeKid ?? '';
    await crashAndRestart(async () => {
      await annotateObject(
        { plural: 'tokenissuers', namespace, name },
        { 'tokensmith.dev/rotate-key': 'crash-after-rotate' },
      );
      // What the controller had done when it died: claimed in Vault, then rotated.
      const { state, keys } = vaultSide(issuer);
      const rotation = { fromKid: kid1, reason: 'Requested' as const, at: clock.now().toISOString() };
      await state.write({ rotateKey: 'crash-after-rotate', rotation }, (await state.read())?.casVersion ?? 0);
      await keys.rotate();
    });
    const caughtUp = await issuerWhen(name, 'status caught up', (i) => i.status?.keys?.length === 2);
    expect(caughtUp.status?.handledRequests?.rotateKey).toBe('crash-after-rotate');
    // The next request makes exactly one more version: the handled one was not acted on again.
    await annotateObject(
      { plural: 'tokenissuers', namespace, name },
      { 'tokensmith.dev/rotate-key': 'next' },
    );
    const next = await issuerWhen(
      name,
      'next request',
      (i) => i.status?.handledRequests?.rotateKey === 'next',
    );
    expect(next.status?.keys?.map((k) => k.version)).toEqual([3, 2, 1]);
  });

  it('is completed, once, after a crash between the claim and rotate()', async () => {
    const issuer = await readyIssuer();
    const name = issuer.metadata?.name ?? '';
    const kid1 = issuer.status?.activeKid ?? '';
    await crashAndRestart(async () => {
      await annotateObject(
        { plural: 'tokenissuers', namespace, name },
        { 'tokensmith.dev/rotate-key': 'crash-before-rotate' },
      );
      const rotation = { fromKid: kid1, reason: 'Requested' as const, at: clock.now().toISOString() };
      const { state } = vaultSide(issuer);
      await state.write(
        { rotateKey: 'crash-before-rotate', rotation },
        (await state.read())?.casVersion ?? 0,
      );
    });
    const resumed = await issuerWhen(name, 'resumed', (i) => i.status?.keys?.length === 2);
    expect(resumed.status?.keys?.map((k) => [k.version, k.state])).toEqual([
      [2, 'published'],
      [1, 'active'],
    ]);
    expect(await events(resumed)).toContainEqual(
      expect.stringMatching(
        /^KeyRotated: signing key rotated \(Requested, resumed after an interrupted attempt\)/,
      ),
    );
    await crashAndRestart(() => Promise.resolve());
    await annotateObject(
      { plural: 'tokenissuers', namespace, name },
      { 'tokensmith.dev/rotate-key': 'next' },
    );
    const next = await issuerWhen(
      name,
      'next request',
      (i) => i.status?.handledRequests?.rotateKey === 'next',
    );
    expect(next.status?.keys?.map((k) => k.version)).toEqual([3, 2, 1]);
  });

  it('a new issuer created with the annotation keeps its brand-new key', async () => {
    const name = uniqueName('manifest');
    await createIssuer(name, 'transit', { 'tokensmith.dev/rotate-key': 'from-the-manifest' });
    const created = await issuerWhen(name, 'issuer ready', ready);
    expect(created.status?.handledRequests?.rotateKey).toBe('from-the-manifest');
    await annotateObject({ plural: 'tokenissuers', namespace, name }, { 'tokensmith.dev/rotate-key': 'now' });
    const rotated = await issuerWhen(name, 'rotated', (i) => i.status?.handledRequests?.rotateKey === 'now');
    expect(rotated.status?.keys?.map((k) => k.version)).toEqual([2, 1]);
  });
});

describe.each(['transit', 'kv'] as const)('%s signing keys', (backend) => {
  it('rotates once per request; earlier JWTs verify until verifyFor ends, then their key is retired', async () => {
    const name = uniqueName(backend);
    await createIssuer(name, backend);
    const created = await issuerWhen(name, 'issuer ready', ready);
    const [first] = created.status?.keys ?? [];
    expect(created.status?.keys).toEqual([expect.objectContaining({ version: 1, state: 'active' })]);
    expect(until(created.status?.nextKeyRotationAt)).toBeGreaterThan(HOUR - MINUTE);
    const before = await mintThrough(name);
    expect(decodeProtectedHeader(before).kid).toBe(first?.kid);

    // What a verifier that cached the JWKS before the rotation holds: only the first key.
    const fromBefore = (await publishedJwks(created)).configMap;
    expect(kids(fromBefore)).toEqual([first?.kid]);
    const requestedAt = clock.now().getTime();
    await annotateObject(
      { plural: 'tokenissuers', namespace, name },
      { 'tokensmith.dev/rotate-key': '1700000001' },
    );
    const rotated = await issuerWhen(
      name,
      'rotated',
      (i) => i.status?.handledRequests?.rotateKey === '1700000001',
    );
    const doneAt = clock.now().getTime();
    const [published, signing, ...others] = rotated.status?.keys ?? [];
    expect(others).toEqual([]);
    expect(published).toMatchObject({ version: 2, state: 'published' });
    expect(signing).toMatchObject({ kid: first?.kid, version: 1, state: 'active' });
    expect(rotated.status?.activeKid).toBe(first?.kid);
    const signsAt = new Date(published?.signsAt ?? 0).getTime();
    expect(signsAt).toBeGreaterThanOrEqual(requestedAt + PUBLISH_AHEAD - 5_000);
    expect(signsAt).toBeLessThanOrEqual(doneAt + PUBLISH_AHEAD);
    expect(until(rotated.status?.nextKeyRotationAt)).toBeGreaterThan(HOUR - MINUTE);
    expect(await events(rotated)).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^KeyRotated: signing key rotated \\(Requested\\): kid ${published?.kid ?? ''} \\(version 2\\) is in the JWKS now and signs in 5m \\(publishAhead\\); kid ${first?.kid ?? ''} signs until then and stays in the JWKS for 2m after`,
        ),
      ),
    );

    // Both keys are published at once, but the old one signs until publishAhead has passed: a
    // verifier holding the JWKS from before the rotation verifies what is minted meanwhile.
    const both = await publishedJwks(rotated);
    expect(kids(both.configMap)).toEqual([first?.kid, published?.kid]);
    expect(both.vault).toEqual(both.configMap);
    const meanwhile = await mintThrough(name);
    expect(decodeProtectedHeader(meanwhile).kid).toBe(first?.kid);
    await expect(verify(meanwhile, fromBefore)).resolves.toBeDefined();

    // publishAhead on, the new key signs; the old one verifies for verifyFor after that.
    clock.advance(until(published?.signsAt) + 1_000);
    const switched = await issuerWhen(name, 'new key signs', (i) => i.status?.activeKid === published?.kid);
    const [active, previous] = switched.status?.keys ?? [];
    expect(active).toMatchObject({ kid: published?.kid, version: 2, state: 'active' });
    expect(previous).toMatchObject({ kid: first?.kid, version: 1, state: 'verify-only' });
    expect(new Date(previous?.retireAt ?? 0).getTime()).toBe(signsAt + VERIFY_FOR);
    await expect(verify(before, both.configMap)).resolves.toBeDefined();
    const after = await mintThrough(name);
    expect(decodeProtectedHeader(after).kid).toBe(active?.kid);
    await expect(verify(after, both.configMap)).resolves.toBeDefined();

    // Just before verifyFor ends the old key is still there; just after, it is gone.
    clock.advance(until(previous?.retireAt) - 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await expect(
      verify(before, (await publishedJwks(await readIssuer(name))).configMap),
    ).resolves.toBeDefined();
    clock.advance(11_000);
    const retired = await issuerWhen(
      name,
      'old key retired',
      (i) => i.status?.keys?.[1]?.state === 'retired',
    );
    expect(retired.status?.keys).toEqual([
      expect.objectContaining({ kid: active?.kid, state: 'active' }),
      expect.objectContaining({ kid: first?.kid, state: 'retired', retireAt: previous?.retireAt }),
    ]);
    const one = await publishedJwks(retired);
    expect(kids(one.configMap)).toEqual([active?.kid]);
    expect(one.vault).toEqual(one.configMap);
    await expect(verify(before, one.configMap)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    await expect(verify(after, one.configMap)).resolves.toBeDefined();
    expect(await events(retired)).toContainEqual(
      `KeyRetired: signing key kid ${first?.kid ?? ''} (version 1) retired: 2m after it stopped signing, it left the JWKS`,
    );
  });

  it('rotates on schedule once the signing key is `every` old', async () => {
    const name = uniqueName(backend);
    await createIssuer(name, backend);
    const created = await issuerWhen(name, 'issuer ready', ready);
    const due = created.status?.nextKeyRotationAt;
    clock.advance(until(due) + 1_000);
    const rotated = await issuerWhen(name, 'rotated on schedule', (i) => i.status?.keys?.length === 2);
    expect(rotated.status?.keys?.map((k) => [k.version, k.state])).toEqual([
      [2, 'published'],
      [1, 'active'],
    ]);
    expect(until(rotated.status?.nextKeyRotationAt)).toBeGreaterThan(HOUR - MINUTE);
    expect(rotated.status?.handledRequests).toBeUndefined();
    expect(await events(rotated)).toContainEqual(
      expect.stringMatching(/^KeyRotated: signing key rotated \(Scheduled\)/),
    );
  });
});
