/**
 * Vault taken away while rotations are due (issue 14): the controller runs as its own process
 * against a restartable Vault (env/persistentVault.ts). Vault is stopped for longer than the
 * policies' overlap while a rotation is asked of each, then paused (connections hang) the same
 * way. Throughout, a checker lists the Secrets every 200 ms. What must hold: no Secret ever holds
 * a token Vault did not record; the status says what is wrong while Vault is away; once Vault is
 * back every overdue rotation happens exactly once, and the catch-up time is printed.
 */
import vault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { PolicyTokenRecord } from '../../../src/core/records.ts';
import { startPersistentVault, type PersistentVault } from '../../env/persistentVault.ts';
import { watchSecretTokens } from '../../support/secretTokens.ts';
import { stopAllControllers } from '../../support/controllerProcess.ts';
import { spawnController, type ControllerProcess } from '../../support/spawnController.ts';
import { createNamespace, environment, uniqueName } from '../../support/environment.ts';
import {
  annotateObject,
  createClusterIssuer,
  createPolicy,
  issuerOwnerSelector,
  readPolicy,
  setIssuerOwner,
  waitForIssuer,
  waitUntil,
} from '../../support/resources.ts';

const POLICIES = 20;
const OVERLAP_S = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let pv: PersistentVault;
let systemNamespace: string;
let namespace: string;
let issuer: string;
let controller: ControllerProcess;
const pathPrefix = `tokensmith-outage/${uniqueName('p')}`;
const names = Array.from({ length: POLICIES }, (_, i) => `policy-${i}`);

beforeAll(async () => {
  const env = environment();
  pv = await startPersistentVault({ binary: env.vaultPath, dir: env.dir, env: { PATH: process.env.PATH } });
  systemNamespace = await createNamespace('outage-system');
  namespace = await createNamespace('outage');
  issuer = uniqueName('outage');
  setIssuerOwner(systemNamespace);
  await createClusterIssuer(issuer, {
    issuer: 'https://tokens.outage.example',
    vault: { mount: 'secret', pathPrefix },
    signing: { backend: 'kv' },
  });
  controller = spawnController(
    {
      kubeconfigPath: env.kubeconfigPath,
      vaultAddress: pv.address,
      vaultCaCertPath: pv.caCertPath,
      vaultToken: pv.token,
    },
    [
      `--cluster-resource-namespace=${systemNamespace}`,
      `--cluster-issuer-selector=${issuerOwnerSelector(systemNamespace)}`,
      `--namespace=${namespace}`,
      '--schedule-jitter=0s',
      '--no-leader-elect',
      '--metrics-port=0',
      '--vault-timeout=3s',
      '--log-level=debug',
    ],
  );
  await waitForIssuer(issuer, 'True/KeyReady', 60_000);
  await Promise.all(
    names.map((name) =>
      createPolicy(namespace, name, {
        issuerRef: { name: issuer },
        token: { type: 'opaque', ttl: '24h' },
        rotation: { overlap: `${OVERLAP_S}s` },
        secret: { name: `${name}-token` },
      }),
    ),
  );
  await waitUntil(
    'every policy issued',
    () => countWhere((p) => p.status?.currentVersion === 1),
    POLICIES,
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await stopAllControllers();
  pv.resume();
  await pv.stop({ kill: true });
});

type Policy = NonNullable<Awaited<ReturnType<typeof readPolicy>>>;

async function countWhere(test: (p: Policy) => boolean): Promise<number> {
  const policies = await Promise.all(names.map((n) => readPolicy(namespace, n)));
  await sleep(300);
  return policies.filter((p) => p !== undefined && test(p)).length;
}

async function record(name: string): Promise<PolicyTokenRecord | undefined> {
  const client = vault({ endpoint: pv.address, token: pv.token, requestOptions: { ca: pv.caCertPem } });
  const read = (await client.read(`secret/data/${pathPrefix}/policies/${namespace}/${name}`)) as {
    data: { data: PolicyTokenRecord };
  };
  return read.data.data;
}

/** Every token a Secret held is recorded in Vault for its policy. */
async function expectRecorded(seen: Map<string, Set<string>>): Promise<void> {
  for (const name of names) {
    const hashes = new Set((await record(name))?.versions.map((v) => v.tokenHash));
    for (const hash of seen.get(name) ?? [])
      expect(hashes.has(hash), `${name}: a token Vault never recorded`).toBe(true);
  }
}

/** Takes Vault away (`away`), asks a rotation of every policy, waits past the overlap, brings it back. */
async function outage(
  request: string,
  expectedVersion: number,
  away: () => Promise<void> | void,
  back: () => Promise<void> | void,
): Promise<{ readyFalse: string[]; catchUpMs: number }> {
  const secrets = watchSecretTokens(namespace);
  onTestFailed(() => {
    process.stderr.write(`\n--- controller ---\n${controller.tail(60)}\n`);
  });
  await away();
  await Promise.all(
    names.map((name) =>
      annotateObject({ plural: 'tokenpolicies', namespace, name }, { 'tokensmith.dev/rotate': request }),
    ),
  );
  // Longer than the overlap: the retiring versions of the last rotation are due for revocation too.
  await sleep((OVERLAP_S + 10) * 1000);
  const policies = await Promise.all(names.map((n) => readPolicy(namespace, n)));
  const readyFalse = policies.map((p) => {
    const ready = p?.status?.conditions?.find((c) => c.type === 'Ready');
    return `${ready?.status ?? '-'}/${ready?.reason ?? '-'}: ${ready?.message ?? ''}`;
  });
  const returned = Date.now();
  await back();
  await waitUntil(
    `every policy rotated for ${request}`,
    () =>
      countWhere(
        (p) =>
          p.status?.currentVersion === expectedVersion &&
          p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
      ),
    POLICIES,
    120_000,
  );
  const catchUpMs = Date.now() - returned;
  await expectRecorded(await secrets.stop());
  for (const name of names) {
    const r = await record(name);
    expect(r?.handled?.rotate, name).toBe(request);
    // Exactly once: one new version for the one request.
    expect(r?.lastVersion, name).toBe(expectedVersion);
    expect(r?.currentVersion, name).toBe(expectedVersion);
  }
  return { readyFalse, catchUpMs };
}

describe('Vault outage while rotations are due', () => {
  it(
    'stopped: nothing unrecorded is published, the status says why, every rotation happens once after',
    { timeout: 240_000 },
    async () => {
      const { readyFalse, catchUpMs } = await outage(
        'outage-stopped',
        2,
        () => pv.stop(),
        () => pv.start(),
      );
      console.log(
        `Vault stopped ${OVERLAP_S + 10} s: status seen "${readyFalse[0] ?? ''}"; all ${POLICIES} rotations done ${catchUpMs} ms after Vault was back`,
      );
      expect(new Set(readyFalse.map((r) => r.split(':')[0])).size).toBe(1);
      expect(readyFalse[0]).toMatch(/^False\/Vault\w+: .*Vault/);
    },
  );

  it(
    'paused (connections hang): the same, and the controller does not hang with it',
    { timeout: 240_000 },
    async () => {
      const { readyFalse, catchUpMs } = await outage(
        'outage-paused',
        3,
        () => {
          pv.pause();
        },
        () => {
          pv.resume();
        },
      );
      console.log(
        `Vault paused ${OVERLAP_S + 10} s: status seen "${readyFalse[0] ?? ''}"; all ${POLICIES} rotations done ${catchUpMs} ms after Vault resumed`,
      );
      expect(readyFalse[0]).toMatch(/^False\/Vault\w+: .*Vault/);
      // The controller never logged a token, key or Vault body while failing.
      expect(controller.output()).not.toContain(pv.token);
    },
  );
});
