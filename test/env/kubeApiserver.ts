import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from './http.ts';
import { createCertificateAuthority, type CertificateAuthority, type KeyPair } from './pki.ts';
import { freePort } from './ports.ts';
import { RestartableServer, waitUntilReady, type ServerProcess } from './process.ts';

/** A running kube-apiserver and what a client needs to reach it as an administrator. */
export interface RunningKubeApiserver {
  url: string;
  /** PEM of the CA that signed the serving certificate. */
  servingCaPem: string;
  /** The CA that kube-apiserver trusts for client certificates; issue users from it. */
  clientCa: CertificateAuthority;
  /** A client certificate for a member of `system:masters`. */
  admin: KeyPair;
  process: ServerProcess;
  /** Stop, kill, pause and start it again on the same port with the same certificates. */
  server: RestartableServer;
}

/**
 * Starts kube-apiserver against `etcdUrl` as envtest does: its own serving CA and client CA, an
 * admin user in `system:masters`, service-account signing keys and issuer, RBAC authorization,
 * loopback only. Admission plugins that need controllers this environment lacks are disabled.
 */
export async function startKubeApiserver(options: {
  binary: string;
  etcdUrl: string;
  dir: string;
  env: Record<string, string | undefined>;
  /** The process's name in messages (and which container launcher, if any, takes it). */
  name?: string;
}): Promise<RunningKubeApiserver> {
  const file = (name: string, content: string) => {
    const path = join(options.dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;

  const servingCa = await createCertificateAuthority('tokensmith-test-serving-ca');
  const serving = await servingCa.issue({
    commonName: 'kube-apiserver',
    usage: 'server',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
    ipAddresses: ['127.0.0.1', '10.0.0.1'],
  });
  const clientCa = await createCertificateAuthority('tokensmith-test-client-ca');
  const admin = await clientCa.issue({
    commonName: 'tokensmith-test-admin',
    organizations: ['system:masters'],
    usage: 'client',
  });
  const serviceAccountKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });

  const tls = { ca: servingCa.certPem, cert: admin.certPem, key: admin.keyPem };
  const server = await RestartableServer.start(
    {
      name: options.name ?? 'kube-apiserver',
      command: options.binary,
      args: [
        `--etcd-servers=${options.etcdUrl}`,
        `--secure-port=${port}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--cert-dir=${join(options.dir, 'kube-apiserver-certs')}`,
        `--tls-cert-file=${file('serving.crt', serving.certPem)}`,
        `--tls-private-key-file=${file('serving.key', serving.keyPem)}`,
        `--client-ca-file=${file('client-ca.crt', clientCa.certPem)}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--disable-admission-plugins=ServiceAccount',
        '--authorization-mode=RBAC',
        `--service-account-issuer=${url}`,
        `--service-account-key-file=${file('sa.pub', serviceAccountKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString())}`,
        `--service-account-signing-key-file=${file('sa.key', serviceAccountKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())}`,
        '--profiling=false',
      ],
      env: options.env,
      logFile: join(options.dir, 'kube-apiserver.log'),
    },
    (started) =>
      waitUntilReady(
        started,
        `GET ${url}/readyz`,
        async () => (await get(`${url}/readyz`, tls)).status === 200,
        120_000,
      ),
  );
  return {
    url,
    servingCaPem: servingCa.certPem,
    clientCa,
    admin,
    get process() {
      return server.process;
    },
    server,
  };
}
