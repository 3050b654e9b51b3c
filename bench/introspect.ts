/**
 * `npm run bench:introspect`: RFC 7662 introspection under load, against the real test servers.
 * N opaque policies (default 1,000) on one issuer; two controllers run as their own processes
 * (one leads, both serve); a client pool at concurrency C presents real tokens for D seconds —
 * 80 % live, 10 % revoked, 10 % unknown — over keep-alive HTTPS. Printed: requests/s, p50/p99/max
 * latency, the cache hit ratio and Vault reads per 1,000 introspections (from the controller's
 * "introspection stats" line), the same client against a raw floor measured in the same run (a
 * plain node:https server answering a fixed JSON body with the same certificate), and how long a
 * revocation takes to be answered inactive on both replicas (from the revoke annotation, so it
 * includes the leader's reconcile).
 *
 *   npm run bench:introspect -- --policies 1000 --concurrency 32 --seconds 10
 *
 * Not part of `npm test` (figures are printed, never asserted).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import vault from 'node-vault';
import { GROUP, PLURAL, VERSION } from '../src/api/constants.ts';
import type { TokenPolicy } from '../src/api/v1alpha1.generated.ts';
import { createCertificateAuthority } from '../test/env/pki.ts';
import { freePort } from '../test/env/ports.ts';
import {
  spawnController,
  stopAllControllers,
  type ControllerProcess,
} from '../test/support/spawnController.ts';
import {
  createReadyClusterIssuer,
  percentile,
  pool,
  positiveFlag,
  readyTrue,
  sleep,
  startBenchEnvironment,
} from './support.ts';

const NS = 'introspect-bench';
const ISSUER = 'introspect';
const note = (line: string) => process.stderr.write(`[introspect] ${line}\n`);
const print = (line: string) => process.stdout.write(`${line}\n`);

const { values } = parseArgs({
  options: {
    policies: { type: 'string' },
    concurrency: { type: 'string' },
    seconds: { type: 'string' },
  },
});
const N = positiveFlag('policies', values.policies, 1000);
/** BENCH_CPU_PROF=<dir>: the replicas write V8 CPU profiles there when they stop. */
const profileEnv = (i: number): Record<string, string> =>
  process.env.BENCH_CPU_PROF
    ? {
        NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_CPU_PROF} --cpu-prof-name=replica-${i}.cpuprofile`,
      }
    : {};
const C = positiveFlag('concurrency', values.concurrency, 32);
const SECONDS = positiveFlag('seconds', values.seconds, 10);

interface Target {
  port: number;
  path: string;
}

type TokenKind = 'live' | 'revoked' | 'unknown';
interface LoadResult {
  count: number;
  latencies: number[];
  errors: number;
  /** Latencies by the kind of token presented. */
  byKind: Map<TokenKind, number[]>;
}

/** Runs the client pool against `target` for SECONDS; latencies in ms. */
async function load(
  target: Target,
  ca: string,
  caller: string,
  tokens: () => { token: string; kind: TokenKind },
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: C, ca });
  const latencies: number[] = [];
  const byKind = new Map<TokenKind, number[]>();
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const presented = tokens();
      const body = new URLSearchParams({ token: presented.token }).toString();
      const started = process.hrtime.bigint();
      const req = request(
        {
          host: '127.0.0.1',
          port: target.port,
          path: target.path,
          method: 'POST',
          agent,
          servername: 'localhost',
          headers: {
            host: 'localhost',
            authorization: `Bearer ${caller}`,
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': String(Buffer.byteLength(body)),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) errors += 1;
            const ms = Number(process.hrtime.bigint() - started) / 1e6;
            latencies.push(ms);
            let kind = byKind.get(presented.kind);
            if (!kind) byKind.set(presented.kind, (kind = []));
            kind.push(ms);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (Date.now() < end) await one();
    }),
  );
  agent.destroy();
  for (const list of byKind.values()) list.sort((a, b) => a - b);
  return { count: latencies.length, latencies: latencies.sort((a, b) => a - b), errors, byKind };
}

/** One introspection of `token`; whether it was active. */
function load1(target: Target, ca: string, caller: string, token: string): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const body = new URLSearchParams({ token }).toString();
    const req = request(
      {
        host: '127.0.0.1',
        port: target.port,
        path: target.path,
        method: 'POST',
        ca,
        servername: 'localhost',
        headers: {
          host: 'localhost',
          authorization: `Bearer ${caller}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve((JSON.parse(text) as { active: boolean }).active);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function report(what: string, result: LoadResult, perKind = false): number {
  const rps = result.count / SECONDS;
  const ms = (list: number[], p: number) => percentile(list, p).toFixed(2);
  print(
    `${what}: ${rps.toFixed(0)} requests/s, p50 ${ms(result.latencies, 50)} ms, p99 ${ms(result.latencies, 99)} ms, max ${(result.latencies.at(-1) ?? 0).toFixed(1)} ms, errors ${result.errors}`,
  );
  if (perKind) {
    for (const [kind, list] of result.byKind) {
      print(`  ${kind} tokens (${list.length}): p50 ${ms(list, 50)} ms, p99 ${ms(list, 99)} ms`);
    }
  }
  return rps;
}

async function main(): Promise<void> {
  const env = await startBenchEnvironment(note);
  const conn = env.connection;
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(conn.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    await vault({
      apiVersion: 'v1',
      endpoint: conn.vaultAddress,
      token: conn.vaultToken,
      requestOptions: { ca: (await import('node:fs')).readFileSync(conn.vaultCaCertPath, 'utf8') },
    }).mount({ mount_point: 'transit', type: 'transit' });
    await core.createNamespace({ body: { metadata: { name: NS } } });

    const ca = await createCertificateAuthority('introspect-bench-ca');
    const cert = await ca.issue({
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    });
    const certFile = join(conn.dir, 'bench-tls.crt');
    const keyFile = join(conn.dir, 'bench-tls.key');
    writeFileSync(certFile, cert.certPem);
    writeFileSync(keyFile, cert.keyPem);

    const ports = [await freePort(), await freePort()];
    const replicas: ControllerProcess[] = ports.map((port, i) =>
      spawnController(
        conn,
        [
          `--namespace=${NS}`,
          `--cluster-resource-namespace=${NS}`,
          `--leader-election-namespace=${NS}`,
          `--verify-port=${port}`,
          `--tls-cert-file=${certFile}`,
          `--tls-key-file=${keyFile}`,
          '--concurrency=8',
          // One caller (the bench) carries all the load: lift its per-caller limit.
          '--introspection-caller-qps=1000000',
          '--kube-qps=200',
          '--vault-qps=500',
          '--schedule-jitter=0s',
          '--log-level=info',
        ],
        profileEnv(i),
      ),
    );
    await createReadyClusterIssuer(custom, ISSUER, 'transit');
    note(`creating ${N} policies…`);
    await pool(
      Array.from({ length: N }, (_, i) => `p${i}`),
      50,
      async (name) => {
        await custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: NS,
          plural: PLURAL.tokenPolicy,
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'TokenPolicy',
            metadata: { name },
            spec: { issuerRef: { name: ISSUER }, token: { type: 'opaque', ttl: '24h' }, secret: { name } },
          },
        });
      },
    );
    for (;;) {
      const list = (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: PLURAL.tokenPolicy,
      })) as { items: TokenPolicy[] };
      if (list.items.filter(readyTrue).length === N) break;
      await sleep(1000);
    }
    const secrets = await core.listNamespacedSecret({ namespace: NS });
    const tokens = secrets.items
      .map((s) => Buffer.from(s.data?.TOKEN ?? '', 'base64').toString('utf8'))
      .filter((t) => t.length > 0);
    note(`${tokens.length} tokens issued`);
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'bench' } } });
    const caller =
      (
        await core.createNamespacedServiceAccountToken({
          namespace: NS,
          name: 'bench',
          body: { spec: { audiences: ['tokensmith'], expirationSeconds: 3600 } },
        })
      ).status?.token ?? '';

    /** revoke=current on a policy: it re-mints, and the token held before is revoked. */
    const revokeCurrent = async (name: string) => {
      await custom.patchNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: PLURAL.tokenPolicy,
        name,
        body: [{ op: 'add', path: '/metadata/annotations', value: { 'tokensmith.dev/revoke': 'current' } }],
      });
    };
    // 10 % revoked: the tokens we hold of these policies are the revoked ones.
    const revokedCount = Math.floor(tokens.length / 10);
    const revoked = tokens.slice(0, revokedCount);
    const names = secrets.items.map((s) => s.metadata?.name ?? '');
    await pool(names.slice(0, revokedCount), 20, revokeCurrent);
    await sleep(5000);
    const live = tokens.slice(revokedCount);
    let n = 0;
    /** Live and revoked tokens (9:1) — each seen before, so answered from the cache. */
    const known = (): { token: string; kind: TokenKind } => {
      n += 1;
      return n % 10 === 0
        ? { token: revoked[n % revoked.length] ?? '', kind: 'revoked' }
        : { token: live[n % live.length] ?? '', kind: 'live' };
    };
    /** 80 % live, 10 % revoked, 10 % unknown (made up: never cached, each one a Vault read). */
    const mix = (): { token: string; kind: TokenKind } => {
      n += 1;
      const r = n % 10;
      if (r === 0) return { token: revoked[n % revoked.length] ?? '', kind: 'revoked' };
      if (r === 1) return { token: `tsk_unknown_${n}`, kind: 'unknown' };
      return { token: live[n % live.length] ?? '', kind: 'live' };
    };

    const path = `/issuers/cluster/${ISSUER}/introspect`;
    const replica = { port: ports[0] ?? 0, path };
    // Every known token once, so the cached run starts warm.
    await pool([...live, ...revoked], 16, async (token) => {
      await load1(replica, ca.certPem, caller, token);
    });
    note(`load: ${C} clients for ${SECONDS} s against replica 1, known tokens…`);
    const cached = report(
      'introspection, known tokens (cached)',
      await load(replica, ca.certPem, caller, known),
      true,
    );
    note(`load: ${C} clients for ${SECONDS} s against replica 1, with 10 % unknown…`);
    const mixed = report(
      'introspection, 10 % unknown tokens',
      await load(replica, ca.certPem, caller, mix),
      true,
    );

    // The raw floor: a plain node:https server with the same certificate and a fixed JSON answer.
    const floorPort = await freePort();
    const floor = spawn(
      process.execPath,
      [
        '-e',
        `const https=require('node:https');const fs=require('node:fs');https.createServer({cert:fs.readFileSync(${JSON.stringify(certFile)}),key:fs.readFileSync(${JSON.stringify(keyFile)})},(q,s)=>{q.resume();q.on('end',()=>{s.writeHead(200,{'content-type':'application/json'});s.end('{"active":false}')})}).listen(${floorPort},'127.0.0.1',()=>console.log('up'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => floor.stdout.once('data', resolve));
    const floorRps = report(
      'raw floor (node:https, fixed JSON)',
      await load({ port: floorPort, path }, ca.certPem, caller, mix),
    );
    floor.kill();
    print(
      `ratio to the floor: cached ${(cached / floorRps).toFixed(2)}, with unknown tokens ${(mixed / floorRps).toFixed(2)}`,
    );

    await sleep(11_000); // the next "introspection stats" line
    const statLines = (replicas[0]?.output() ?? '')
      .split('\n')
      .filter((l) => l.includes('"introspection stats"'));
    for (const line of statLines) note(line);
    const stats = statLines
      .map((l) => JSON.parse(l) as { hits: number; misses: number; vaultReads: number })
      .at(-1);
    if (stats) {
      const total = stats.hits + stats.misses;
      print(
        `cache hit ratio ${(stats.hits / total).toFixed(3)}; Vault reads per 1,000 introspections ${((stats.vaultReads / total) * 1000).toFixed(1)}`,
      );
    }

    // Revocation propagation: revoke=current on K live tokens, one at a time, until both replicas say inactive.
    const K = 20;
    const lags: number[] = [];
    const introspectOnce = (port: number, token: string) => load1({ port, path }, ca.certPem, caller, token);
    for (let i = 0; i < K; i++) {
      const name = names[revokedCount + i] ?? '';
      const token = Buffer.from(secrets.items[revokedCount + i]?.data?.TOKEN ?? '', 'base64').toString(
        'utf8',
      );
      const started = Date.now();
      await revokeCurrent(name);
      for (const port of ports) while (await introspectOnce(port, token)) await sleep(5);
      lags.push(Date.now() - started);
    }
    lags.sort((a, b) => a - b);
    print(
      `revocation (annotation → inactive on both replicas, ${K} tokens): p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms`,
    );
    await Promise.all(replicas.map((r) => r.stop()));
  } finally {
    await stopAllControllers();
    await env.stop();
  }
}

main().catch((err: unknown) => {
  note(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
