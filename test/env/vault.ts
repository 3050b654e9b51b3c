import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from './http.ts';
import { freePort } from './ports.ts';
import { ServerProcess, waitUntilReady } from './process.ts';

/** A DNS name in the Vault serving certificate besides localhost, for tests of TLS server names. */
export const VAULT_TLS_SERVER_NAME = 'vault.tokensmith.test';

/** A running Vault dev server. */
export interface RunningVault {
  /** https://127.0.0.1:PORT */
  address: string;
  /** The root token of the dev server. */
  token: string;
  /** Path and PEM of the CA that signed Vault's serving certificate. */
  caCertPath: string;
  caCertPem: string;
  process: ServerProcess;
}

/**
 * Starts a Vault dev server on loopback: in-memory, unsealed, KV v2 at `secret/`, with a root
 * token of our choosing, and TLS (`-dev-tls`) because TLS to Vault is the normal case.
 */
export async function startVault(options: {
  binary: string;
  dir: string;
  env: Record<string, string | undefined>;
}): Promise<RunningVault> {
  const certDir = join(options.dir, 'vault-tls');
  mkdirSync(certDir, { recursive: true });
  const port = await freePort();
  const address = `https://127.0.0.1:${port}`;
  const token = `root-${randomBytes(12).toString('hex')}`;
  const server = ServerProcess.start({
    name: 'vault',
    command: options.binary,
    args: [
      'server',
      '-dev',
      `-dev-root-token-id=${token}`,
      `-dev-listen-address=127.0.0.1:${port}`,
      '-dev-no-store-token',
      '-dev-tls',
      `-dev-tls-cert-dir=${certDir}`,
      `-dev-tls-san=${VAULT_TLS_SERVER_NAME}`,
      '-dev-tls-san=localhost',
      '-dev-tls-san=127.0.0.1',
    ],
    // Vault must not pick up a developer's VAULT_* settings.
    env: { ...options.env, HOME: options.dir, VAULT_ADDR: undefined, VAULT_TOKEN: undefined },
    logFile: join(options.dir, 'vault.log'),
  });
  const caCertPath = join(certDir, 'vault-ca.pem');
  await waitUntilReady(server, `GET ${address}/v1/sys/health`, async () => {
    const res = await get(`${address}/v1/sys/health`, { ca: readFileSync(caCertPath, 'utf8') });
    return (
      res.status === 200 &&
      (JSON.parse(res.body) as { initialized?: boolean; sealed?: boolean }).sealed === false
    );
  });
  return { address, token, caCertPath, caCertPem: readFileSync(caCertPath, 'utf8'), process: server };
}
