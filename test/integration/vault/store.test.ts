/**
 * KV v2 and the TokenStore against the environment's real Vault: check-and-set conflicts become
 * VaultConflict, records and index entries round-trip, destroy leaves nothing behind, and no
 * error carries the token material it was about.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { PolicyTokenRecord, TokenIndexEntry } from '../../../src/core/records.ts';
import { isTokensmithError } from '../../../src/errors.ts';
import { KvV2 } from '../../../src/vault/kv.ts';
import { VaultTokenStore } from '../../../src/vault/tokenStore.ts';
import { environment, uniqueName, vaultClient } from '../../support/environment.ts';
import { client, closeClients, expectSafeError, rejectionOf } from './support.ts';

afterAll(closeClients);

function tokenRecord(token: string, version = 1): PolicyTokenRecord {
  const tokenHash = createHash('sha256').update(token).digest('hex');
  return {
    policy: { namespace: 'payments', name: 'orders-api', uid: 'b5e1c1de-0000-4000-8000-000000000001' },
    issuer: { kind: 'ClusterTokenIssuer', name: 'payments' },
    currentVersion: version,
    lastVersion: version,
    versions: [
      {
        version,
        state: 'active',
        type: 'opaque',
        token,
        tokenHash,
        fingerprint: `sha256:${tokenHash.slice(0, 12)}`,
        scopes: ['orders:read'],
        specHash: 'spec-1',
        issuedAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-02T00:00:00.000Z',
      },
    ],
  };
}

const newToken = () => `tsk_${randomBytes(32).toString('base64url')}`;
const policy = { namespace: 'payments', name: 'orders-api' };

describe('KvV2', () => {
  it('reads versions, lists, reads metadata and destroys everything', async () => {
    const kv = new KvV2({ client: client() });
    const folder = uniqueName('kv');
    expect(await kv.write(`${folder}/a`, { n: 1 })).toBe(1);
    expect(await kv.write(`${folder}/a`, { n: 2 })).toBe(2);
    await kv.write(`${folder}/sub/b`, { n: 3 });

    expect(await kv.read(`${folder}/a`)).toMatchObject({ data: { n: 2 }, version: 2 });
    expect(await kv.read(`${folder}/a`, { version: 1 })).toMatchObject({ data: { n: 1 }, version: 1 });
    expect((await kv.list(folder)).sort()).toEqual(['a', 'sub/']);
    expect(await kv.list(`${folder}/nothing-here`)).toEqual([]);
    const metadata = await kv.readMetadata(`${folder}/a`);
    expect(metadata?.currentVersion).toBe(2);
    expect(Object.keys(metadata?.versions ?? {}).sort()).toEqual(['1', '2']);

    await kv.destroyVersions(`${folder}/a`, [1]);
    expect(await kv.read(`${folder}/a`, { version: 1 })).toBeUndefined();
    expect((await kv.readMetadata(`${folder}/a`))?.versions['1']?.destroyed).toBe(true);

    await kv.destroyAll(`${folder}/a`);
    expect(await kv.read(`${folder}/a`)).toBeUndefined();
    expect(await kv.readMetadata(`${folder}/a`)).toBeUndefined();
    await kv.destroyAll(`${folder}/a`); // nothing left: still fine
  });

  it('maps a check-and-set mismatch to VaultConflict without the data it tried to write', async () => {
    const kv = new KvV2({ client: client() });
    const path = `${uniqueName('cas')}/entry`;
    const secret = newToken();
    expect(await kv.write(path, { token: secret }, { cas: 0 })).toBe(1);

    const createAgain = expectSafeError(
      await rejectionOf(kv.write(path, { token: secret }, { cas: 0 })),
      'VaultConflict',
      [secret, environment().vaultToken],
    );
    expect(createAgain.status).toBe(400);
    expect(createAgain.message).toContain(`secret/data/${path}`);
    expect(createAgain.retryable).toBe(true);

    expect(await kv.write(path, { token: 'second' }, { cas: 1 })).toBe(2);
    expectSafeError(await rejectionOf(kv.write(path, { token: secret }, { cas: 1 })), 'VaultConflict', [
      secret,
      environment().vaultToken,
    ]);
    expect((await kv.read(path))?.data).toEqual({ token: 'second' });
  });

  it('refuses paths that would climb out of their folder', async () => {
    const kv = new KvV2({ client: client() });
    expectSafeError(await rejectionOf(kv.read('a/../../sys/policies')), 'InvalidSpec', []);
  });
});

describe('VaultTokenStore', () => {
  it('round-trips a record with check-and-set versions', async () => {
    const prefix = `tokensmith/${uniqueName('store')}`;
    const store = new VaultTokenStore({ client: client(), pathPrefix: prefix });
    expect(await store.read(policy)).toBeUndefined();

    const first = tokenRecord(newToken());
    expect(await store.write(policy, first, 0)).toBe(1);
    expect(await store.read(policy)).toEqual({ value: first, casVersion: 1 });

    // It is where the design says: <mount>/<prefix>/policies/<namespace>/<name>.
    const raw = (await vaultClient().read(`secret/data/${prefix}/policies/payments/orders-api`)) as {
      data: { data: unknown };
    };
    expect(raw.data.data).toEqual(first);

    const second = tokenRecord(newToken(), 2);
    expect(await store.write(policy, second, 1)).toBe(2);
    expect(await store.read(policy)).toEqual({ value: second, casVersion: 2 });
  });

  it('lets exactly one of two writers with the same casVersion win', async () => {
    const store = new VaultTokenStore({ client: client(), pathPrefix: `tokensmith/${uniqueName('race')}` });
    await store.write(policy, tokenRecord(newToken()), 0);
    const tokens = [newToken(), newToken()];
    const results = await Promise.allSettled(tokens.map((t) => store.write(policy, tokenRecord(t, 2), 1)));

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expectSafeError(rejected[0]?.reason, 'VaultConflict', [...tokens, environment().vaultToken]);
    const winner = await store.read(policy);
    expect(winner?.casVersion).toBe(2);
    expect(tokens).toContain(winner?.value.versions[0]?.token);
  });

  it('refuses to create a record that exists (casVersion 0)', async () => {
    const store = new VaultTokenStore({ client: client(), pathPrefix: `tokensmith/${uniqueName('create')}` });
    await store.write(policy, tokenRecord(newToken()), 0);
    const token = newToken();
    const err = await rejectionOf(store.write(policy, tokenRecord(token), 0));
    expect(isTokensmithError(err, 'VaultConflict')).toBe(true);
    expectSafeError(err, 'VaultConflict', [token]);
  });

  it('keeps an index by token hash, and never takes a token as an index key', async () => {
    const prefix = `tokensmith/${uniqueName('index')}`;
    const store = new VaultTokenStore({ client: client(), pathPrefix: prefix });
    const token = newToken();
    const hash = createHash('sha256').update(token).digest('hex');
    const entry: TokenIndexEntry = { namespace: 'payments', name: 'orders-api', version: 3, kind: 'token' };

    expect(await store.getIndex(hash)).toBeUndefined();
    await store.putIndex(hash, entry);
    expect(await store.getIndex(hash)).toEqual(entry);
    const listed = (await vaultClient().list(`secret/metadata/${prefix}/index`)) as {
      data: { keys: string[] };
    };
    expect(listed.data.keys).toEqual([hash]);

    await store.deleteIndex(hash);
    expect(await store.getIndex(hash)).toBeUndefined();
    expect(await new KvV2({ client: client() }).readMetadata(`${prefix}/index/${hash}`)).toBeUndefined();

    // A plaintext token passed by mistake is refused, and not repeated in the error.
    expectSafeError(await rejectionOf(store.putIndex(token, entry)), 'InvalidSpec', [token]);
    expectSafeError(await rejectionOf(store.getIndex(token)), 'InvalidSpec', [token]);
  });

  it('shortens token hashes in errors, and maps a policy denial to VaultPermissionDenied', async () => {
    const created = (await vaultClient().write('auth/token/create', {
      policies: ['default'],
      ttl: '10m',
    })) as {
      auth: { client_token: string };
    };
    const token = created.auth.client_token;
    const store = new VaultTokenStore({
      client: client({ auth: { method: 'token', token } }),
      pathPrefix: `tokensmith/${uniqueName('denied')}`,
    });
    const hash = createHash('sha256').update(newToken()).digest('hex');
    const err = expectSafeError(await rejectionOf(store.getIndex(hash)), 'VaultPermissionDenied', [
      hash,
      token,
    ]);
    expect(err.status).toBe(403);
    expect(err.message).toContain(`/index/${hash.slice(0, 12)}…`);
  });

  it('destroys every version and the metadata of a record', async () => {
    const prefix = `tokensmith/${uniqueName('destroy')}`;
    const store = new VaultTokenStore({ client: client(), pathPrefix: prefix });
    await store.write(policy, tokenRecord(newToken()), 0);
    await store.write(policy, tokenRecord(newToken(), 2), 1);

    await store.destroy(policy);
    expect(await store.read(policy)).toBeUndefined();
    const kv = new KvV2({ client: client() });
    expect(await kv.readMetadata(`${prefix}/policies/payments/orders-api`)).toBeUndefined();
    expect(await kv.read(`${prefix}/policies/payments/orders-api`, { version: 1 })).toBeUndefined();
    // After a destroy, the record can be created afresh.
    expect(await store.write(policy, tokenRecord(newToken()), 0)).toBe(1);
    await store.destroy(policy);
    await store.destroy(policy);
  });

  it('refuses an entry that is not a token record, without echoing it', async () => {
    const prefix = `tokensmith/${uniqueName('foreign')}`;
    const secret = newToken();
    await new KvV2({ client: client() }).write(`${prefix}/policies/payments/orders-api`, {
      password: secret,
    });
    const store = new VaultTokenStore({ client: client(), pathPrefix: prefix });
    expectSafeError(await rejectionOf(store.read(policy)), 'VaultRecordInvalid', [secret]);
  });
});
