/**
 * Proves the test environment's Vault is a real Vault-API server: KV v2 keeps versions and
 * metadata, it only speaks TLS with its own CA, and its Kubernetes auth method, configured against
 * the environment's kube-apiserver, logs a real service account in (and refuses another one).
 */
import { CoreV1Api } from '@kubernetes/client-node';
import vault from 'node-vault';
import { beforeAll, describe, expect, it } from 'vitest';
import { setUpKubernetesAuth } from '../../support/vaultKubernetesAuth.ts';
import {
  adminKubeConfig,
  createNamespace,
  environment,
  uniqueName,
  vaultClient,
} from '../../support/environment.ts';

interface KvRead {
  data: { data: Record<string, string>; metadata: { version: number } };
}

let namespace: string;

beforeAll(async () => {
  namespace = await createNamespace('smoke-vault');
});

/** The HTTP status of a failed node-vault call. */
async function statusOf(call: Promise<unknown>): Promise<number | string> {
  try {
    await call;
    return 'succeeded';
  } catch (err) {
    const e = err as { response?: { statusCode?: number }; code?: string };
    return e.response?.statusCode ?? e.code ?? 'unknown';
  }
}

describe('Vault', () => {
  it('keeps every version of a KV v2 secret with its metadata', async () => {
    const client = vaultClient();
    const path = `secret/data/smoke/${uniqueName('kv')}`;
    await client.write(path, { data: { token: 'first' } });
    await client.write(path, { data: { token: 'second' } });

    const latest = (await client.read(path)) as KvRead;
    expect(latest.data.data.token).toBe('second');
    expect(latest.data.metadata.version).toBe(2);
    const first = (await client.read(`${path}?version=1`)) as KvRead;
    expect(first.data.data.token).toBe('first');

    const metadata = (await client.read(path.replace('/data/', '/metadata/'))) as {
      data: { current_version: number; versions: Record<string, unknown> };
    };
    expect(metadata.data.current_version).toBe(2);
    expect(Object.keys(metadata.data.versions).sort()).toEqual(['1', '2']);

    // A check-and-set write against a stale version is refused by the server.
    expect(await statusOf(client.write(path, { options: { cas: 1 }, data: { token: 'stale' } }))).toBe(400);
  });

  it('serves TLS only, with a certificate from its own CA', async () => {
    const env = environment();
    const untrusting = vault({ apiVersion: 'v1', endpoint: env.vaultAddress, token: env.vaultToken });
    expect(await statusOf(untrusting.read('sys/health'))).toMatch(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/);
    const health = (await vaultClient().read('sys/health')) as { initialized: boolean; sealed: boolean };
    expect(health).toMatchObject({ initialized: true, sealed: false });
  });

  it('logs a service account in through the Kubernetes auth method, and no other', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const client = vaultClient();
    // Vault reviews the presented token with the TokenReview API, authorised by the token itself.
    const mount = await setUpKubernetesAuth({
      namespace,
      serviceAccounts: ['tokensmith', 'intruder'],
      role: { name: 'tokensmith', boundServiceAccounts: ['tokensmith'], policies: ['default'] },
    });

    const jwtFor = async (name: string) =>
      (
        await core.createNamespacedServiceAccountToken({
          namespace,
          name,
          body: { spec: { audiences: ['vault'], expirationSeconds: 600 } },
        })
      ).status?.token ?? '';

    const login = (await client.kubernetesLogin({
      mount_point: mount,
      role: 'tokensmith',
      jwt: await jwtFor('tokensmith'),
    })) as { auth: { client_token: string; metadata: Record<string, string> } };
    expect(login.auth.metadata).toMatchObject({
      service_account_name: 'tokensmith',
      service_account_namespace: namespace,
    });
    const self = (await vaultClient(login.auth.client_token).tokenLookupSelf()) as {
      data: { policies: string[]; ttl: number };
    };
    expect(self.data.policies).toContain('default');
    expect(self.data.ttl).toBeGreaterThan(0);

    const intruder = client.kubernetesLogin({
      mount_point: mount,
      role: 'tokensmith',
      jwt: await jwtFor('intruder'),
    });
    expect(await statusOf(intruder)).toBe(403);
    const forged = client.kubernetesLogin({
      mount_point: mount,
      role: 'tokensmith',
      jwt: 'eyJhbGciOiJub25lIn0.e30.',
    });
    expect(await statusOf(forged)).toBe(403);
  });
});
