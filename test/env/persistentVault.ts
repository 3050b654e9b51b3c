/**
 * A Vault that survives a restart, for fault tests (unlike the dev server, which lives in memory):
 * file storage in its own directory, TLS from the environment's throwaway PKI, initialised with one
 * unseal key and unsealed by the launcher, KV v2 at `secret/` as in dev mode. The root token and the
 * unseal key are kept in the directory (`init.json`, mode 0600). A test can stop it, kill it, pause
 * it (SIGSTOP: connections hang rather than fail) and restart it on the same port with its data.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { send } from './http.ts';
import { createCertificateAuthority } from './pki.ts';
import { freePort } from './ports.ts';
import { RestartableServer, waitUntilReady } from './process.ts';
import { VAULT_TLS_SERVER_NAME } from './vault.ts';

export interface PersistentVault {
  /** https://127.0.0.1:PORT, the same across restarts. */
  readonly address: string;
  /** The root token (from the initialisation). */
  readonly token: string;
  readonly caCertPath: string;
  readonly caCertPem: string;
  /** Whether the server process runs now (paused counts as running). */
  readonly running: boolean;
  /** Stops it (SIGTERM; SIGKILL when `kill`); its data stays. */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Freezes the process: it accepts nothing new and answers nothing until resume(). */
  pause(): void;
  resume(): void;
  /** Starts it again on the same port with the same data, and unseals it. */
  start(): Promise<void>;
}

interface InitResult {
  keys_base64: string[];
  root_token: string;
}

export async function startPersistentVault(options: {
  binary: string;
  dir: string;
  env: Record<string, string | undefined>;
}): Promise<PersistentVault> {
  const dir = join(options.dir, `vault-persistent-${randomBytes(4).toString('hex')}`);
  mkdirSync(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const address = `https://127.0.0.1:${port}`;
  const ca = await createCertificateAuthority('tokensmith-test-vault-ca');
  const serving = await ca.issue({
    commonName: 'vault',
    dnsNames: ['localhost', VAULT_TLS_SERVER_NAME],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
  const caCertPath = join(dir, 'ca.pem');
  writeFileSync(caCertPath, ca.certPem);
  writeFileSync(join(dir, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  const configPath = join(dir, 'vault.hcl');
  writeFileSync(
    configPath,
    [
      `storage "file" { path = ${JSON.stringify(join(dir, 'data'))} }`,
      `listener "tcp" {`,
      `  address = "127.0.0.1:${port}"`,
      `  tls_cert_file = ${JSON.stringify(join(dir, 'tls.crt'))}`,
      `  tls_key_file = ${JSON.stringify(join(dir, 'tls.key'))}`,
      `}`,
      `api_addr = "${address}"`,
      'disable_mlock = true',
      'ui = false',
      '',
    ].join('\n'),
  );
  const tls = { ca: ca.certPem };
  const sys = async (method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown, token?: string) => {
    const res = await send(method, `${address}/v1/${path}`, body, {
      ...tls,
      timeoutMs: 10_000,
      ...(token ? { headers: { 'X-Vault-Token': token } } : {}),
    });
    if (res.status >= 400) throw new Error(`Vault ${method} ${path}: HTTP ${res.status}`);
    return res.body ? (JSON.parse(res.body) as unknown) : undefined;
  };

  let init: InitResult | undefined;
  // Always a local process (its own name: no container launcher takes it), so it can be paused.
  // Ready once unsealed and active; the first start also initialises it.
  const server = await RestartableServer.start(
    {
      name: 'vault-persistent',
      command: options.binary,
      args: ['server', `-config=${configPath}`],
      env: { ...options.env, HOME: dir, VAULT_ADDR: undefined, VAULT_TOKEN: undefined },
      logFile: join(dir, 'vault.log'),
    },
    async (started) => {
      // Any answer at all: 501 (not initialised) and 503 (sealed) are what a fresh start gives.
      await waitUntilReady(started, `GET ${address}/v1/sys/health`, async () => {
        const res = await send('GET', `${address}/v1/sys/health`, undefined, tls);
        return res.status > 0;
      });
      if (!init) {
        init = (await sys('PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 })) as InitResult;
        writeFileSync(join(dir, 'init.json'), JSON.stringify(init), { mode: 0o600 });
      }
      await sys('PUT', 'sys/unseal', { key: init.keys_base64[0] });
      await waitUntilReady(started, 'unsealed and active', async () => {
        const res = await send('GET', `${address}/v1/sys/health`, undefined, tls);
        return res.status === 200;
      });
    },
  );
  const token = init?.root_token ?? '';
  await sys('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } }, token);
  return {
    address,
    token,
    caCertPath,
    caCertPem: readFileSync(caCertPath, 'utf8'),
    get running() {
      return server.running;
    },
    stop: (stopOptions) => server.stop(stopOptions),
    pause: () => {
      server.pause();
    },
    resume: () => {
      server.resume();
    },
    start: () => server.start(),
  };
}
