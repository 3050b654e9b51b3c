/**
 * TLS to the environment's real Vault: its CA is trusted, nothing else is (whatever
 * VAULT_SKIP_VERIFY says), a server-name override is checked against the certificate, and
 * transport failures become VaultTlsFailed / VaultUnreachable without the token the request
 * carried.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { inspect } from 'node:util';
import vault from 'node-vault';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { VAULT_TLS_SERVER_NAME } from '../../env/vault.ts';
import { createCertificateAuthority } from '../../env/pki.ts';
import { freePort } from '../../env/ports.ts';
import type { VaultClient } from '../../../src/vault/client.ts';
import { environment } from '../../support/environment.ts';
import { client, closeClients, expectSafeError, rejectionOf } from './support.ts';

afterAll(closeClients);

const savedSkipVerify = process.env.VAULT_SKIP_VERIFY;
afterEach(() => {
  if (savedSkipVerify === undefined) delete process.env.VAULT_SKIP_VERIFY;
  else process.env.VAULT_SKIP_VERIFY = savedSkipVerify;
});

function lookupSelf(c: VaultClient): Promise<unknown> {
  return c.request({ method: 'GET', path: 'auth/token/lookup-self', operation: 'look up its own token' });
}

describe('TLS to Vault', () => {
  it('works with the CA that signed Vault’s certificate', async () => {
    await expect(lookupSelf(client())).resolves.toMatchObject({ data: { policies: ['root'] } });
  });

  it('fails with VaultTlsFailed without a CA bundle, even with VAULT_SKIP_VERIFY set', async () => {
    process.env.VAULT_SKIP_VERIFY = 'true';
    const err = expectSafeError(
      await rejectionOf(lookupSelf(client({ caPem: undefined }))),
      'VaultTlsFailed',
      [environment().vaultToken],
    );
    expect(err.message).toMatch(/auth\/token\/lookup-self.*TLS handshake/);
  });

  it('does not pass on what node-vault’s own transport errors carry (the token)', async () => {
    const env = environment();
    const raw = vault({ endpoint: env.vaultAddress, token: env.vaultToken });
    const rawError = await rejectionOf(raw.read('auth/token/lookup-self'));
    expect(inspect(rawError, { depth: 20 })).toContain(env.vaultToken); // what the boundary is for
    expectSafeError(await rejectionOf(lookupSelf(client({ caPem: undefined }))), 'VaultTlsFailed', [
      env.vaultToken,
    ]);
  });

  it('fails with VaultTlsFailed with another CA', async () => {
    const other = await createCertificateAuthority('not-vault');
    expectSafeError(await rejectionOf(lookupSelf(client({ caPem: other.certPem }))), 'VaultTlsFailed', [
      environment().vaultToken,
    ]);
  });

  it('checks the certificate against tlsServerName when one is given', async () => {
    await expect(lookupSelf(client({ tlsServerName: VAULT_TLS_SERVER_NAME }))).resolves.toBeDefined();
    const err = expectSafeError(
      await rejectionOf(lookupSelf(client({ tlsServerName: 'elsewhere.tokensmith.test' }))),
      'VaultTlsFailed',
      [environment().vaultToken],
    );
    expect(err.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('connects by a name in the certificate when the address uses it', async () => {
    // The address names localhost (a SAN of the dev certificate), not 127.0.0.1.
    const address = environment().vaultAddress.replace('127.0.0.1', 'localhost');
    await expect(lookupSelf(client({ address }))).resolves.toBeDefined();
  });

  it('fails with VaultUnreachable when nothing listens', async () => {
    const address = `https://127.0.0.1:${await freePort()}`;
    const err = expectSafeError(await rejectionOf(lookupSelf(client({ address }))), 'VaultUnreachable', [
      environment().vaultToken,
    ]);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('fails with VaultUnreachable when Vault does not answer in time', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const c = client({ address: `https://127.0.0.1:${port}`, timeoutMs: 300 });
      const err = expectSafeError(await rejectionOf(lookupSelf(c)), 'VaultUnreachable', [
        environment().vaultToken,
      ]);
      expect(err.message).toMatch(/did not answer in time/);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('refuses an address that is not an http(s) URL', () => {
    expect(() => client({ address: 'vault:8200' })).toThrow(/https:\/\//);
    expect(() => client({ address: 'https://user:pass@vault:8200' })).toThrow(/credentials/);
  });
});
