/**
 * JWT signing keys on both backends (transit and KV) for every algorithm, against the
 * environment's real Vault: a JWT from signJwt verifies with jose against the JWKS of the listed
 * keys, rotation moves new tokens to a new kid (at once, or only after publishAhead) while old ones
 * keep verifying until retireBelow, a compromised kid never signs, and private key material shows
 * up in no JWKS, error or listing.
 */
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { jwksOf, signJwt, type SignerChoice } from '../../../src/mint/jwt.ts';
import type { SigningAlgorithm, SigningKeys } from '../../../src/ports.ts';
import { KvV2 } from '../../../src/vault/kv.ts';
import { createSigningKeys } from '../../../src/vault/signingKeys.ts';
import { TransitSigningKeys } from '../../../src/vault/transitSigningKeys.ts';
import { uniqueName, vaultClient } from '../../support/environment.ts';
import { client, closeClients, expectNoSecrets, expectSafeError, rejectionOf } from './support.ts';

afterAll(closeClients);

const admin = vaultClient();
const ALGORITHMS: SigningAlgorithm[] = ['EdDSA', 'ES256', 'RS256'];
const ISSUER = 'https://tokens.payments.example';
/** A new version signs at once. */
const AT_ONCE: SignerChoice = { now: () => new Date(), signsFrom: () => 0, compromisedKids: new Set() };

function claims(): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    sub: 'checkout',
    aud: ['orders-api'],
    iat: now,
    exp: now + 600,
    jti: uniqueName('jti'),
  };
}

async function verify(keys: SigningKeys, token: string) {
  const jwks = createLocalJWKSet(jwksOf(await keys.list()));
  return jwtVerify(token, jwks, {
    issuer: ISSUER,
    audience: 'orders-api',
    algorithms: [keys.algorithm],
    typ: 'JWT',
  });
}

/** A fresh issuer's keys on the given backend, in a mount and prefix of their own. */
function freshKeys(backend: 'transit' | 'kv', algorithm: SigningAlgorithm) {
  const c = client();
  if (backend === 'transit') {
    const mount = uniqueName('transit');
    return {
      mount,
      keys: createSigningKeys({ backend, client: c, algorithm, name: 'issuer', mount, enableMount: true }),
    };
  }
  const prefix = `tokensmith/${uniqueName('keys')}`;
  return { prefix, keys: createSigningKeys({ backend, client: c, algorithm, pathPrefix: prefix }) };
}

describe.each(['transit', 'kv'] as const)('%s signing keys', (backend) => {
  describe.each(ALGORITHMS)('%s', (algorithm) => {
    it('signs JWTs that verify against the JWKS, across a rotation, until the old key is retired', async () => {
      const { keys } = freshKeys(backend, algorithm);
      await keys.ensure();
      await keys.ensure(); // idempotent
      const [first, ...others] = await keys.list();
      expect(others).toEqual([]);
      expect(first).toMatchObject({
        version: 1,
        algorithm,
        publicJwk: { kid: first?.kid, alg: algorithm, use: 'sig' },
      });

      const oldToken = await signJwt(keys, claims(), AT_ONCE);
      expect(decodeProtectedHeader(oldToken)).toEqual({ alg: algorithm, typ: 'JWT', kid: first?.kid });
      const verified = await verify(keys, oldToken);
      expect(verified.payload).toMatchObject({ sub: 'checkout', aud: ['orders-api'] });
      expect(verified.protectedHeader.kid).toBe(first?.kid);

      await keys.rotate();
      const listed = await keys.list();
      expect(listed.map((k) => k.version)).toEqual([1, 2]);
      const second = listed[1];
      expect(second?.kid).not.toBe(first?.kid);
      const newToken = await signJwt(keys, claims(), AT_ONCE);
      expect(decodeProtectedHeader(newToken).kid).toBe(second?.kid);
      await expect(verify(keys, newToken)).resolves.toBeDefined();
      await expect(verify(keys, oldToken)).resolves.toBeDefined();

      await keys.retireBelow(2);
      expect((await keys.list()).map((k) => k.kid)).toEqual([second?.kid]);
      await expect(verify(keys, oldToken)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
      await expect(verify(keys, newToken)).resolves.toBeDefined();

      // Retiring again, or beyond the newest version, keeps the signing key.
      await keys.retireBelow(2);
      await keys.retireBelow(99);
      expect((await keys.list()).map((k) => k.version)).toEqual([2]);
      await expect(verify(keys, await signJwt(keys, claims(), AT_ONCE))).resolves.toBeDefined();
    });

    it('signs with a new version only publishAhead after it was made, and never with a compromised one', async () => {
      const { keys } = freshKeys(backend, algorithm);
      await keys.ensure();
      await keys.rotate();
      const [first, second] = await keys.list();
      const ahead = (offsetMs: number, compromised: string[] = []): SignerChoice => ({
        now: () => new Date(Date.now() + offsetMs),
        signsFrom: (k) => new Date(k.createdAt).getTime() + 10 * 60_000,
        compromisedKids: new Set(compromised),
      });
      // Just made: version 2 is in the JWKS, version 1 still signs.
      const before = await signJwt(keys, claims(), ahead(0));
      expect(decodeProtectedHeader(before).kid).toBe(first?.kid);
      // Ten minutes on, version 2 signs.
      const after = await signJwt(keys, claims(), ahead(10 * 60_000 + 1_000));
      expect(decodeProtectedHeader(after).kid).toBe(second?.kid);
      // Version 1 compromised: version 2 signs at once, published or not.
      const leaked = await signJwt(keys, claims(), ahead(0, [first?.kid ?? '']));
      expect(decodeProtectedHeader(leaked).kid).toBe(second?.kid);
      for (const token of [before, after, leaked]) await expect(verify(keys, token)).resolves.toBeDefined();
      // Every version compromised: nothing signs.
      const err = await rejectionOf(signJwt(keys, claims(), ahead(0, [first?.kid ?? '', second?.kid ?? ''])));
      expectSafeError(err, 'SigningFailed', []);
    });

    it('chooses again when the chosen version is retired before the signature', async () => {
      const { keys } = freshKeys(backend, algorithm);
      await keys.ensure();
      let retired = false;
      const racing: SigningKeys = {
        algorithm,
        ensure: () => keys.ensure(),
        list: () => keys.list(),
        rotate: () => keys.rotate(),
        retireBelow: (v) => keys.retireBelow(v),
        sign: async (input, version) => {
          if (!retired) {
            // A leak between the choice and the signature: a new version, the chosen one retired.
            retired = true;
            await keys.rotate();
            await keys.retireBelow(2);
          }
          return keys.sign(input, version);
        },
      };
      const token = await signJwt(racing, claims(), AT_ONCE);
      const listed = await keys.list();
      expect(listed.map((k) => k.version)).toEqual([2]);
      expect(decodeProtectedHeader(token).kid).toBe(listed[0]?.kid);
      await expect(verify(keys, token)).resolves.toBeDefined();
    });
  });
});

describe('transit signing keys', () => {
  it('keeps the private key in Vault, and trims retired versions there', async () => {
    const { keys, mount } = freshKeys('transit', 'ES256');
    await keys.ensure();
    await keys.rotate();
    await keys.rotate();
    await keys.retireBelow(3);
    const key = (await admin.read(`${mount}/keys/issuer`)) as {
      data: {
        type: string;
        exportable: boolean;
        min_available_version: number;
        keys: Record<string, unknown>;
      };
    };
    expect(key.data).toMatchObject({ type: 'ecdsa-p256', exportable: false, min_available_version: 3 });
    expect(Object.keys(key.data.keys)).toEqual(['3']);
    // Trimmed, not just hidden: the old versions cannot be brought back.
    await expect(
      admin.write(`${mount}/keys/issuer/config`, { min_decryption_version: 1 }),
    ).rejects.toMatchObject({
      response: { statusCode: 400 },
    });
  });

  it('does not enable a missing mount unless allowed, and says what is missing', async () => {
    const mount = uniqueName('no-transit');
    const keys = new TransitSigningKeys({ client: client(), algorithm: 'EdDSA', name: 'issuer', mount });
    const err = expectSafeError(await rejectionOf(keys.ensure()), 'VaultRequestFailed', []);
    expect(err.message).toContain(`no transit secrets engine is mounted at ${mount}/`);
    expect(await keys.list()).toEqual([]);
    expectSafeError(await rejectionOf(signJwt(keys, claims(), AT_ONCE)), 'SigningFailed', []);
  });

  it('refuses a key whose type cannot sign the algorithm', async () => {
    const mount = uniqueName('transit');
    await new TransitSigningKeys({
      client: client(),
      algorithm: 'EdDSA',
      name: 'issuer',
      mount,
      enableMount: true,
    }).ensure();
    const keys = new TransitSigningKeys({ client: client(), algorithm: 'RS256', name: 'issuer', mount });
    const err = expectSafeError(await rejectionOf(keys.ensure()), 'InvalidSpec', []);
    expect(err.message).toMatch(/has type ed25519, which cannot sign RS256/);
  });
});

describe('KV signing keys', () => {
  it('destroys retired private keys in every version of the KV entry, and never publishes one', async () => {
    const { keys, prefix } = freshKeys('kv', 'RS256');
    await keys.ensure();
    await keys.rotate();
    const kv = new KvV2({ client: client() });
    const path = `${prefix ?? ''}/signing-keys`;
    const before = await kv.read(path);
    const privateParts = (before?.data.keys as { privateJwk: Record<string, string> }[]).flatMap((k) =>
      ['d', 'p', 'q', 'dp', 'dq', 'qi'].map((m) => k.privateJwk[m] ?? ''),
    );
    const retired = privateParts.slice(0, 6);
    expectNoSecrets(
      [JSON.stringify(await keys.list()), JSON.stringify(jwksOf(await keys.list()))],
      privateParts,
    );

    await keys.retireBelow(2);
    const metadata = await kv.readMetadata(path);
    const versions = Object.keys(metadata?.versions ?? {}).map(Number);
    const readable = (await Promise.all(versions.map((v) => kv.read(path, { version: v })))).filter(
      (e) => e !== undefined,
    );
    expect(readable.map((e) => e.version)).toEqual([metadata?.currentVersion]);
    expectNoSecrets([JSON.stringify(readable)], retired);
  });

  it('refuses keys made for another algorithm, without showing them', async () => {
    const { keys, prefix } = freshKeys('kv', 'EdDSA');
    await keys.ensure();
    const raw = await new KvV2({ client: client() }).read(`${prefix ?? ''}/signing-keys`);
    const d = (raw?.data.keys as { privateJwk: { d: string } }[])[0]?.privateJwk.d ?? '';
    const other = createSigningKeys({
      backend: 'kv',
      client: client(),
      algorithm: 'ES256',
      pathPrefix: prefix ?? '',
    });
    for (const call of [() => other.ensure(), () => other.list(), () => other.sign(new Uint8Array([1]), 1)]) {
      const err = expectSafeError(await rejectionOf(call()), 'InvalidSpec', [d]);
      expect(err.message).toMatch(/are for EdDSA, not ES256/);
    }
  });

  it('says there is no key yet instead of signing', async () => {
    const { keys } = freshKeys('kv', 'ES256');
    expect(await keys.list()).toEqual([]);
    expectSafeError(await rejectionOf(signJwt(keys, claims(), AT_ONCE)), 'SigningFailed', []);
    expectSafeError(await rejectionOf(keys.sign(new Uint8Array([1]), 1)), 'SigningFailed', []);
  });
});
