/**
 * `npm run dev`: tokensmith against an embedded cluster and Vault. Starts the test environment
 * (real etcd, kube-apiserver and Vault), enables the transit engine, runs the controller
 * (`node src/main.ts run`, as a user would), applies examples/, and shows the status of issuers
 * and policies whenever it changes, until Ctrl-C. Then everything stops and nothing is left.
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import vault from 'node-vault';
import { launchEnvironment } from '../test/env/launch.ts';
import { createCertificateAuthority } from '../test/env/pki.ts';
import { freePort } from '../test/env/ports.ts';
import { REPO_ROOT, settingsFromProcess } from '../test/env/settings.ts';

const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`[dev] ${line}\n`);
const CLUSTER_RESOURCE_NAMESPACE = 'tokensmith-system';
const READY = '.status.conditions[?(@.type=="Ready")]';
const ISSUER_COLUMNS = `custom-columns=ISSUER:.metadata.name,READY:${READY}.status,REASON:${READY}.reason,ACTIVE KEY:.status.activeKid`;
const POLICY_COLUMNS =
  `custom-columns=NAMESPACE:.metadata.namespace,POLICY:.metadata.name,READY:${READY}.status,REASON:${READY}.reason,` +
  'VERSION:.status.currentVersion,FINGERPRINT:.status.fingerprint,EXPIRES:.status.expiresAt,NEXT ROTATION:.status.nextRotationAt';

async function main(): Promise<void> {
  const settings = settingsFromProcess();
  const env = await launchEnvironment(settings, log);
  const conn = env.connection;
  const kubectl = (...args: string[]) =>
    run(conn.kubectlPath, ['--kubeconfig', conn.kubeconfigPath, ...args]);

  await vault({
    apiVersion: 'v1',
    endpoint: conn.vaultAddress,
    token: conn.vaultToken,
    requestOptions: { ca: readFileSync(conn.vaultCaCertPath, 'utf8') },
  }).mount({ mount_point: 'transit', type: 'transit' });
  await kubectl('create', 'namespace', CLUSTER_RESOURCE_NAMESPACE);

  // The verification server's certificate, from a CA of its own (in a cluster: cert-manager's).
  const ca = await createCertificateAuthority('tokensmith-dev-verify-ca');
  const serving = await ca.issue({
    commonName: 'tokensmith-verify',
    dnsNames: ['localhost', 'tokens.payments.example'],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
  const tlsCert = join(conn.dir, 'verify-tls.crt');
  const tlsKey = join(conn.dir, 'verify-tls.key');
  const verifyCa = join(conn.dir, 'verify-ca.crt');
  writeFileSync(tlsCert, serving.certPem);
  writeFileSync(tlsKey, serving.keyPem, { mode: 0o600 });
  writeFileSync(verifyCa, ca.certPem);
  const verifyPort = await freePort();

  const operatorLog = join(conn.dir, 'tokensmith.log');
  const out = createWriteStream(operatorLog);
  const operator = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'src', 'main.ts'),
      'run',
      `--kubeconfig=${conn.kubeconfigPath}`,
      `--vault-address=${conn.vaultAddress}`,
      `--vault-ca-cert=${conn.vaultCaCertPath}`,
      `--cluster-resource-namespace=${CLUSTER_RESOURCE_NAMESPACE}`,
      '--no-leader-elect',
      `--verify-port=${verifyPort}`,
      `--tls-cert-file=${tlsCert}`,
      `--tls-key-file=${tlsKey}`,
    ],
    { env: { ...settings.childEnv, VAULT_TOKEN: conn.vaultToken }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  operator.stdout.pipe(out);
  operator.stderr.pipe(process.stderr);
  log(`tokensmith running (pid ${operator.pid ?? '?'}); its log: ${operatorLog}`);

  const { stdout: applied } = await kubectl('apply', '-f', join(REPO_ROOT, 'examples'));
  log(`applied examples/:\n${applied.trimEnd()}`);
  for (const [k, v] of Object.entries(env.exports())) log(`export ${k}=${v}`);
  log(`kubectl: ${conn.kubectlPath}`);
  log(
    `verification server: curl --cacert ${verifyCa} https://localhost:${verifyPort}/issuers/cluster/payments/.well-known/openid-configuration`,
  );
  log('watching status; press Ctrl-C to stop');

  let stopping = false;
  const isStopping = () => stopping;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`${why}: stopping…`);
    operator.kill('SIGTERM');
    await new Promise((resolve) => {
      if (operator.exitCode !== null) resolve(undefined);
      else operator.once('exit', resolve);
    });
    await env.stop();
    log('stopped; nothing left running');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  operator.once('exit', (code) => void stop(`tokensmith exited (code ${String(code)})`));

  let last = '';
  for (;;) {
    if (isStopping()) return;
    try {
      // Custom columns without AGE, so the view changes only when the state does.
      const { stdout: issuers } = await kubectl('get', 'clustertokenissuers', '-o', ISSUER_COLUMNS);
      const { stdout: policies } = await kubectl('get', 'tokenpolicies', '-A', '-o', POLICY_COLUMNS);
      const view = `${issuers}\n${policies}`;
      if (view !== last) {
        process.stdout.write(`\n${new Date().toISOString()}\n${view}`);
        last = view;
      }
    } catch {
      // the API server is going away: stop() is running
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
