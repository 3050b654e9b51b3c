/**
 * The verification server in tests: a certificate from a CA of the test's own, written to files
 * the controller reads (--tls-cert-file/--tls-key-file), and an HTTPS client that trusts that CA
 * and reaches the server on 127.0.0.1 under any host name (SNI and Host header).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { createCertificateAuthority } from '../env/pki.ts';
import { adminKubeConfig, uniqueName } from './environment.ts';
import { launchTestOperator, startTestOperator, testConfig, type TestOperator } from './operator.ts';

export interface VerifyTls {
  caPem: string;
  certFile: string;
  keyFile: string;
}

/** A serving certificate for localhost, 127.0.0.1 and `dnsNames`. */
export async function verifyTls(dnsNames: string[] = []): Promise<VerifyTls> {
  const ca = await createCertificateAuthority('verify-ca');
  const cert = await ca.issue({
    commonName: 'tokensmith-verify',
    dnsNames: ['localhost', ...dnsNames],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
  const dir = mkdtempSync(join(tmpdir(), 'verify-tls-'));
  writeFileSync(join(dir, 'tls.crt'), cert.certPem);
  writeFileSync(join(dir, 'tls.key'), cert.keyPem, { mode: 0o600 });
  return { caPem: ca.certPem, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request to the server on 127.0.0.1:`port`, as `host` (default localhost). */
export function httpsCall(
  port: number,
  caPem: string,
  path: string,
  options: { host?: string; headers?: Record<string, string>; method?: string; body?: string } = {},
): Promise<HttpsAnswer> {
  const host = options.host ?? 'localhost';
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        servername: host,
        ca: caPem,
        headers: { host, ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A token of service account `namespace/name` (created if missing) for `audience`. */
export async function serviceAccountToken(
  namespace: string,
  name: string,
  audience: string,
): Promise<string> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch(() => undefined);
  const request = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [audience], expirationSeconds: 3600 } },
  });
  return request.status?.token ?? '';
}

/** POSTs `token` for introspection at `path` with the caller's bearer token; the raw answer. */
export function introspectAt(
  port: number,
  caPem: string,
  path: string,
  caller: string,
  token: string,
): Promise<HttpsAnswer> {
  return httpsCall(port, caPem, path, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
}

/** The controller's verification-server settings for `tls`, on a free port. */
export function verifyConfig(tls: VerifyTls, callerQps = 50) {
  return { port: 0, certFile: tls.certFile, keyFile: tls.keyFile, callerQps, usageFlushMs: 500 };
}

/**
 * Two controllers serving `namespace` with verification servers on their own ports: the first
 * leads (started and synced), the second follows (launched), both serve.
 */
export async function startVerifyingReplicas(
  namespace: string,
  transitMount: string,
  tls: VerifyTls,
  callerQps = 50,
): Promise<{ operator: TestOperator; port: number }[]> {
  const lease = uniqueName('tokensmith-controller');
  const base = testConfig({ namespace, transitMount });
  const replicas: { operator: TestOperator; port: number }[] = [];
  for (const identity of ['replica-a', 'replica-b']) {
    const config = {
      ...base,
      leaderElection: { enabled: true, namespace, name: lease, identity },
      verify: verifyConfig(tls, callerQps),
    };
    const operator = identity === 'replica-a' ? await startTestOperator(config) : launchTestOperator(config);
    replicas.push({ operator, port: (await operator.operator.verifyServer)?.port ?? 0 });
  }
  return replicas;
}
