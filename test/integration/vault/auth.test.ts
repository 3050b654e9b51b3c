/**
 * The three Vault auth methods against the environment's real Vault (and, for Kubernetes auth,
 * its real kube-apiserver): each logs in lazily and works; a revoked Vault token leads to one
 * fresh login; a token near the end of its TTL is replaced before it is used; a genuine policy
 * denial is not retried; and no error or log line carries a token, secret id or JWT.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpKubernetesAuth } from '../../support/vaultKubernetesAuth.ts';
import type { VaultAuth } from '../../../src/vault/auth.ts';
import { dataOf, type VaultClient } from '../../../src/vault/client.ts';
import { KvV2 } from '../../../src/vault/kv.ts';
import {
  adminKubeConfig,
  createNamespace,
  environment,
  uniqueName,
  vaultClient,
} from '../../support/environment.ts';
import {
  capturingLogger,
  client,
  closeClients,
  countingLimiter,
  expectNoSecrets,
  expectSafeError,
  rejectionOf,
} from './support.ts';

const admin = vaultClient();
/** The KV folder the test policy may use; everything else is denied. */
const prefix = `tokensmith/${uniqueName('auth')}`;
const policyName = uniqueName('tokensmith-auth');

beforeAll(async () => {
  await admin.addPolicy({
    name: policyName,
    rules: `
      path "secret/data/${prefix}/*" { capabilities = ["create", "read", "update"] }
      path "secret/metadata/${prefix}/*" { capabilities = ["read", "list", "delete"] }
    `,
  });
});
afterAll(closeClients);

/** What Vault says about the client's current token (its accessor tells logins apart). */
async function self(c: VaultClient): Promise<{ accessor: string; id: string; ttl: number }> {
  const data = dataOf(
    await c.request({ method: 'GET', path: 'auth/token/lookup-self', operation: 'look up its own token' }),
  );
  return data as { accessor: string; id: string; ttl: number };
}

async function revoke(accessor: string): Promise<void> {
  await admin.write('auth/token/revoke-accessor', { accessor });
}

/** Writes and reads back an entry in the allowed folder. */
async function useKv(c: VaultClient, value: string): Promise<void> {
  const kv = new KvV2({ client: c });
  const path = `${prefix}/${uniqueName('entry')}`;
  await kv.write(path, { value });
  expect((await kv.read(path))?.data).toEqual({ value });
}

const loginsIn = (lines: Record<string, unknown>[]) =>
  lines.filter((l) => l.msg === 'logged in to Vault').length;

describe('token auth', () => {
  it('uses the token as given, and says so clearly once it is revoked', async () => {
    // Not admin.tokenCreate: node-vault would switch `admin` over to the token it created.
    const created = (await admin.write('auth/token/create', { policies: [policyName], ttl: '10m' })) as {
      auth: { client_token: string; accessor: string };
    };
    const token = created.auth.client_token;
    const { logger, text } = capturingLogger();
    const c = client({ auth: { method: 'token', token }, logger });
    await useKv(c, 'with a token');

    await revoke(created.auth.accessor);
    const err = expectSafeError(await rejectionOf(useKv(c, 'again')), 'VaultAuthFailed', [
      token,
      environment().vaultToken,
    ]);
    expect(err.message).toMatch(/invalid or expired/);
    expectNoSecrets([text()], [token]);
  });
});

describe('AppRole auth', () => {
  let mountPath: string;
  let roleId: string;
  let secretId: string;

  beforeAll(async () => {
    mountPath = uniqueName('approle');
    await admin.enableAuth({ mount_point: mountPath, type: 'approle' });
    await admin.write(`auth/${mountPath}/role/tokensmith`, {
      token_policies: [policyName],
      token_ttl: '10m',
      token_max_ttl: '1h',
    });
    roleId = (
      (await admin.read(`auth/${mountPath}/role/tokensmith/role-id`)) as { data: { role_id: string } }
    ).data.role_id;
    secretId = (
      (await admin.write(`auth/${mountPath}/role/tokensmith/secret-id`, {})) as {
        data: { secret_id: string };
      }
    ).data.secret_id;
  });

  const appRole = (): VaultAuth => ({ method: 'appRole', mountPath, roleId, secretId });

  it('logs in lazily, once, and logs in again after its token is revoked', async () => {
    const { logger, lines, text } = capturingLogger();
    const c = client({ auth: appRole(), logger });
    expect(loginsIn(lines)).toBe(0);

    await Promise.all([useKv(c, 'one'), useKv(c, 'two'), useKv(c, 'three')]);
    expect(loginsIn(lines)).toBe(1);
    const first = await self(c);
    expect(first.ttl).toBeGreaterThan(0);

    await revoke(first.accessor);
    await useKv(c, 'after revocation');
    const second = await self(c);
    expect(second.accessor).not.toBe(first.accessor);
    expect(loginsIn(lines)).toBe(2);
    expectNoSecrets([text()], [secretId, first.id, second.id]);
  });

  it('logs in again before the token TTL runs out', async () => {
    let now = Date.now();
    const { logger, lines } = capturingLogger();
    const c = client({ auth: appRole(), logger, now: () => now });
    const first = await self(c);

    now += 400_000; // 400 s of a 600 s TTL: still fresh enough
    expect((await self(c)).accessor).toBe(first.accessor);
    now += 100_000; // past three quarters of the TTL
    expect((await self(c)).accessor).not.toBe(first.accessor);
    expect(loginsIn(lines)).toBe(2);
  });

  it('does not log in again when the policy, not the token, denies a request', async () => {
    const { logger, lines } = capturingLogger();
    const c = client({ auth: appRole(), logger });
    const current = await self(c);
    const err = expectSafeError(
      await rejectionOf(new KvV2({ client: c }).write(`elsewhere/${uniqueName('denied')}`, { a: 1 })),
      'VaultPermissionDenied',
      [secretId, current.id],
    );
    expect(err.status).toBe(403);
    expect(err.message).toMatch(/write a KV entry \(secret\/data\/elsewhere\/.*\) with HTTP 403/);
    expect(loginsIn(lines)).toBe(1);
  });

  it('fails with VaultAuthFailed for a wrong secret id, without repeating it', async () => {
    const wrong = `${secretId.slice(0, -12)}000000000000`;
    const { logger, text } = capturingLogger();
    const c = client({ auth: { method: 'appRole', mountPath, roleId, secretId: wrong }, logger });
    const err = expectSafeError(await rejectionOf(useKv(c, 'never')), 'VaultAuthFailed', [
      wrong,
      secretId,
      roleId,
    ]);
    expect(err.message).toContain(`auth/${mountPath}/login`);
    expectNoSecrets([text()], [wrong, secretId]);
  });

  it('sends every request, logins included, through the limiter', async () => {
    const limiter = countingLimiter();
    const c = client({ auth: appRole(), limiter });
    const kv = new KvV2({ client: c });
    await Promise.all(['a', 'b', 'c'].map((name) => kv.write(`${prefix}/limited-${name}`, { name })));
    expect(limiter.count).toBe(4); // one login and three writes
    expect(limiter.maxInFlight).toBe(1);
  });
});

describe('Kubernetes auth', () => {
  let namespace: string;
  let mountPath: string;

  beforeAll(async () => {
    namespace = await createNamespace('vault-auth');
    mountPath = await setUpKubernetesAuth({
      namespace,
      serviceAccounts: ['tokensmith', 'intruder'],
      role: { name: 'tokensmith', boundServiceAccounts: ['tokensmith'], policies: [policyName] },
    });
  });

  /** A TokenRequest for the service account, as the operator makes one. */
  async function serviceAccountJwt(name: string): Promise<string> {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const response = await core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: { spec: { audiences: ['vault'], expirationSeconds: 600 } },
    });
    return response.status?.token ?? '';
  }

  it('logs in with a fresh service-account token, and again after revocation', async () => {
    const issued: string[] = [];
    const { logger, lines, text } = capturingLogger();
    const c = client({
      auth: {
        method: 'kubernetes',
        mountPath,
        role: 'tokensmith',
        jwt: async () => {
          const jwt = await serviceAccountJwt('tokensmith');
          issued.push(jwt);
          return jwt;
        },
      },
      logger,
    });
    await useKv(c, 'from kubernetes');
    expect(issued).toHaveLength(1);
    const first = await self(c);

    await revoke(first.accessor);
    await useKv(c, 'after revocation');
    expect(issued).toHaveLength(2);
    const second = await self(c);
    expect(second.accessor).not.toBe(first.accessor);
    expect(loginsIn(lines)).toBe(2);
    expectNoSecrets([text()], [...issued, first.id, second.id]);
  });

  it('fails with VaultAuthFailed for a service account the role does not bind', async () => {
    const jwt = await serviceAccountJwt('intruder');
    const c = client({
      auth: { method: 'kubernetes', mountPath, role: 'tokensmith', jwt: () => Promise.resolve(jwt) },
    });
    const err = expectSafeError(await rejectionOf(useKv(c, 'never')), 'VaultAuthFailed', [jwt]);
    expect(err.status).toBe(403);
  });

  it('fails with VaultAuthFailed when no service-account token can be had, hiding why', async () => {
    const secret = `sa-token-${'x'.repeat(24)}`;
    const c = client({
      auth: {
        method: 'kubernetes',
        mountPath,
        role: 'tokensmith',
        jwt: () => Promise.reject(new Error(`HTTP 500 body: {"token":"${secret}"}`)),
      },
    });
    const err = expectSafeError(await rejectionOf(useKv(c, 'never')), 'VaultAuthFailed', [secret]);
    expect(err.message).toMatch(/could not get a service-account token/);
  });
});
