/**
 * Hostile and random input (issue 14), property-based: fast-check generates TokenPolicy and
 * TokenIssuer objects, valid, near-valid and garbage (support/generatedSpecs.ts), from a seed, and
 * each is applied to the real API server of the test environment, where the controller runs as its
 * own process. The property, for every case: the API server refuses it with a message, or the
 * controller brings it to Ready=True or Ready=False with a reason and a message, for its current
 * generation. And for the run: the controller never exits, it does not spin (once everything has
 * settled, reconciles and API requests per object per minute are bounded, and printed), and it
 * keeps serving: a policy created after the flood is issued.
 *
 * The cases are independent, so the report of a failure is the failing case itself (kind, family,
 * what was changed, its spec) with the seed that reproduces the run:
 *   TOKENSMITH_PROPERTY_SEED=<seed> npx vitest run test/integration/faults/generated-specs.test.ts
 * TOKENSMITH_PROPERTY_CASES sets the number of cases (default 500).
 */
import { CustomObjectsApi } from '@kubernetes/client-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { TokenIssuer, TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import { freePort } from '../../env/ports.ts';
import { metricSums } from '../../support/controllerMetrics.ts';
import {
  startController,
  stopAllControllers,
  type ControllerProcess,
} from '../../support/controllerProcess.ts';
import { adminKubeConfig, createNamespace, uniqueName } from '../../support/environment.ts';
import { generatedCase, type GeneratedCase, type SpecWorld } from '../../support/generatedSpecs.ts';
import { refusal } from '../../support/kubeErrors.ts';
import {
  createClusterIssuer,
  createPolicy,
  setIssuerOwner,
  waitForIssuer,
  waitUntil,
} from '../../support/resources.ts';

const SEED = Number(process.env.TOKENSMITH_PROPERTY_SEED || Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.TOKENSMITH_PROPERTY_CASES || 500);
const QUIET_WINDOW_MS = 30_000;
const G = { group: 'tokensmith.dev', version: 'v1alpha1' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let namespace: string;
let controller: ControllerProcess;
let metricsPort: number;
let world: SpecWorld;

beforeAll(async () => {
  const systemNamespace = await createNamespace('hostile-system');
  namespace = await createNamespace('hostile');
  setIssuerOwner(systemNamespace);
  const clusterIssuer = uniqueName('hostile');
  world = {
    clusterIssuer,
    audiences: ['orders', 'billing'],
    scopes: ['orders:read', 'orders:write'],
    tokenIssuers: Array.from({ length: 8 }, (_, i) => `i-${i}`),
  };
  await createClusterIssuer(clusterIssuer, {
    issuer: 'https://tokens.hostile.example',
    vault: { mount: 'secret', pathPrefix: `tokensmith-hostile/${clusterIssuer}` },
    signing: { backend: 'kv', rotation: { every: '2160h', verifyFor: '720h' } },
    allowed: {
      audiences: [...world.audiences],
      scopes: [...world.scopes],
      claims: ['tenant', 'team', 'tier'],
      maxTtl: '720h',
    },
  });
  metricsPort = await freePort();
  controller = startController({
    namespaces: [namespace],
    clusterResourceNamespace: systemNamespace,
    // Faster than the default 20/s, so 500 objects settle in a test's time; what is measured is
    // the rate once they have settled, far below either.
    extraArgs: [`--metrics-port=${metricsPort}`, '--kube-qps=100', '--kube-burst=200', '--log-level=info'],
  });
  await waitForIssuer(clusterIssuer, 'True/KeyReady', 60_000);
}, 120_000);

afterAll(async () => {
  await stopAllControllers();
});

/** Sums of the controller's counters that show work: reconciles, API and Vault requests. */
function workCounters() {
  return metricSums(metricsPort, {
    reconciles: 'tokensmith_controller_reconcile_total',
    kube: 'tokensmith_kube_requests_total',
    vault: 'tokensmith_vault_requests_total',
  });
}

interface Applied {
  c: GeneratedCase;
  name: string;
  /** Set when the API server refused it. */
  refused?: { code: number; message: string };
}

/** The object a case describes, with its unique name; a policy's '' Secret name becomes its own. */
function objectOf(c: GeneratedCase, index: number): { name: string; body: Record<string, unknown> } {
  const base = c.kind === 'TokenPolicy' ? `p-${index}` : (world.tokenIssuers[index] ?? `i-${index}`);
  const name = c.nameSuffix === undefined ? base : `${base}${c.nameSuffix}`;
  let spec = c.spec;
  if (c.kind === 'TokenPolicy' && typeof spec === 'object' && spec !== null && !Array.isArray(spec)) {
    const secret = (spec as { secret?: unknown }).secret;
    if (typeof secret === 'object' && secret !== null && (secret as { name?: unknown }).name === '')
      spec = { ...spec, secret: { ...secret, name: `${name}-token` } };
  }
  return {
    name,
    body: {
      apiVersion: 'tokensmith.dev/v1alpha1',
      kind: c.kind,
      metadata: { name, ...(c.annotations ? { annotations: c.annotations } : {}) },
      ...(spec === undefined ? {} : { spec }),
    },
  };
}

/** Ready condition of an accepted object, if it is settled for its current generation. */
function settled(obj: TokenPolicy | TokenIssuer | undefined): string | undefined {
  const ready = obj?.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready || (ready.status !== 'True' && ready.status !== 'False')) return undefined;
  if (ready.observedGeneration !== undefined && ready.observedGeneration !== obj?.metadata?.generation)
    return undefined;
  if (!ready.reason || (ready.status === 'False' && !ready.message)) return undefined;
  return `${ready.status}/${ready.reason}`;
}

describe('generated TokenPolicy and TokenIssuer specs', () => {
  it(
    `each is refused with a message or reconciled to Ready True/False with a reason; the controller never crashes or spins (${CASES} cases)`,
    { timeout: 660_000 },
    async () => {
      console.log(`generated specs: seed ${SEED}, ${CASES} cases`);
      onTestFailed(() => {
        process.stderr.write(
          `\n--- reproduce with TOKENSMITH_PROPERTY_SEED=${SEED} ---\n--- controller ---\n${controller.tail(40)}\n`,
        );
      });
      // Issuers first in each batch is not needed: a policy naming an issuer not there yet waits
      // for it like any other. The first cases of kind TokenIssuer get the names policies use.
      const cases = fc.sample(generatedCase(world), { seed: SEED, numRuns: CASES });
      let issuerIndex = 0;
      const api = adminKubeConfig().makeApiClient(CustomObjectsApi);
      const applied: Applied[] = [];
      const queue = cases.map((c, i) => ({ c, i: c.kind === 'TokenIssuer' ? issuerIndex++ : i }));
      const startedAt = Date.now();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let next = queue.shift(); next; next = queue.shift()) {
            const { name, body } = objectOf(next.c, next.i);
            const plural = next.c.kind === 'TokenPolicy' ? 'tokenpolicies' : 'tokenissuers';
            try {
              await api.createNamespacedCustomObject({ ...G, namespace, plural, body });
              applied.push({ c: next.c, name });
            } catch (err) {
              applied.push({ c: next.c, name, refused: refusal(err) });
            }
          }
        }),
      );
      const describeCase = (a: Applied) =>
        `${a.c.kind} ${a.name} (${a.c.family}${a.c.change ? `: ${a.c.change}` : ''})${a.refused ? ` refused: ${a.refused.message.slice(0, 300)}` : ''} ${JSON.stringify(a.c.spec ?? null).slice(0, 400)}`;

      // Refused at apply: a 4xx with a message that says what is wrong.
      for (const a of applied.filter((x) => x.refused)) {
        expect(a.refused?.code, describeCase(a)).toBeGreaterThanOrEqual(400);
        expect(a.refused?.code, describeCase(a)).toBeLessThan(500);
        expect(a.refused?.message.length, describeCase(a)).toBeGreaterThan(10);
      }
      // Valid cases are never refused (the generator and the schema agree on what is valid).
      const validRefused = applied.filter((a) => a.refused && a.c.family === 'valid');
      expect(validRefused.map(describeCase)).toEqual([]);

      // Accepted: each settles to Ready True or False with a reason and a message.
      const accepted = applied.filter((a) => !a.refused);
      const outcome = new Map<string, string>();
      const messages = new Map<string, string>();
      const readAll = async () => {
        const [policies, issuers] = (await Promise.all([
          api.listNamespacedCustomObject({ ...G, namespace, plural: 'tokenpolicies' }),
          api.listNamespacedCustomObject({ ...G, namespace, plural: 'tokenissuers' }),
        ])) as unknown[];
        const byName = new Map<string, TokenPolicy | TokenIssuer>();
        for (const p of (policies as { items: TokenPolicy[] }).items)
          byName.set(`TokenPolicy/${p.metadata?.name ?? ''}`, p);
        for (const i of (issuers as { items: TokenIssuer[] }).items)
          byName.set(`TokenIssuer/${i.metadata?.name ?? ''}`, i);
        return byName;
      };
      await waitUntil(
        'every accepted object settled',
        async () => {
          const all = await readAll();
          for (const a of accepted) {
            const obj = all.get(`${a.c.kind}/${a.name}`);
            const message = obj?.status?.conditions?.find((c) => c.type === 'Ready')?.message;
            if (message) messages.set(`${a.c.kind}/${a.name}`, message);
            const state = settled(obj);
            if (state) outcome.set(`${a.c.kind}/${a.name}`, state);
            else outcome.delete(`${a.c.kind}/${a.name}`);
          }
          await sleep(1000);
          return outcome.size === accepted.length;
        },
        true,
        400_000,
        () =>
          Promise.resolve(
            `: not settled: ${accepted
              .filter((a) => !outcome.has(`${a.c.kind}/${a.name}`))
              .slice(0, 5)
              .map(describeCase)
              .join('\n')}`,
          ),
      );
      const settledMs = Date.now() - startedAt;

      // Never crashed, never spins: over a quiet window, work per object stays small.
      // Two windows back to back: the retries of retryable failures (a missing issuer, a Secret
      // owned by someone else) back off, so the second window has fewer; a spin would not.
      const t0 = await workCounters();
      await sleep(QUIET_WINDOW_MS);
      const t1 = await workCounters();
      await sleep(QUIET_WINDOW_MS);
      const t2 = await workCounters();
      const perObjectPerMin = (n: number) => (n / accepted.length) * (60_000 / QUIET_WINDOW_MS);
      const [first, second] = [t1.reconciles - t0.reconciles, t2.reconciles - t1.reconciles];
      const reconcilesPerMin = perObjectPerMin(first + second) / 2;
      const kubePerMin = perObjectPerMin(t2.kube - t0.kube) / 2;
      const vaultPerMin = perObjectPerMin(t2.vault - t0.vault) / 2;
      const state = await Promise.race([
        controller.exited.then(() => 'exited'),
        sleep(100).then(() => 'running'),
      ]);
      expect(state).toBe('running');

      // …and keeps serving: a valid policy created now is issued.
      const canary = 'canary-after-the-flood';
      const canaryAt = Date.now();
      await createPolicy(namespace, canary, {
        issuerRef: { name: world.clusterIssuer },
        token: { type: 'opaque', ttl: '24h' },
        secret: { name: `${canary}-token` },
      });
      await waitUntil(
        'the canary policy issued',
        async () => settled((await readAll()).get(`TokenPolicy/${canary}`)),
        'True/Issued',
        60_000,
      );
      const canaryMs = Date.now() - canaryAt;

      const count = (pred: (a: Applied) => boolean) => applied.filter(pred).length;
      const tally = new Map<string, number>();
      for (const v of outcome.values()) {
        const key = v.startsWith('True') ? 'Ready' : v.replace('False/', '');
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
      console.log(
        `generated specs (seed ${SEED}): ${CASES} cases (${count((a) => a.c.kind === 'TokenPolicy')} policies, ${count((a) => a.c.kind === 'TokenIssuer')} issuers; ` +
          `${count((a) => a.c.family === 'valid')} valid, ${count((a) => a.c.family === 'near-valid')} near-valid, ${count((a) => a.c.family === 'garbage')} garbage): ` +
          `${count((a) => a.refused !== undefined)} refused at apply, ${accepted.length} accepted, all settled ${(settledMs / 1000).toFixed(0)} s after the first apply ` +
          `(${[...tally]
            .sort((x, y) => y[1] - x[1])
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}). ` +
          `Settled, per object per minute over ${(2 * QUIET_WINDOW_MS) / 1000} s: ${reconcilesPerMin.toFixed(3)} reconciles (${first} in the first half, ${second} in the second), ${kubePerMin.toFixed(3)} API requests, ${vaultPerMin.toFixed(3)} Vault requests; ` +
          `a policy created after the flood issued in ${(canaryMs / 1000).toFixed(1)} s; the controller never exited`,
      );
      // A spin is many reconciles per object per minute, and does not slow down; settled objects
      // are reconciled only by their resync (hours) and the retries of retryable failures, which
      // back off (0.5 s doubling to 5 min).
      expect(reconcilesPerMin).toBeLessThan(2);
      expect(kubePerMin).toBeLessThan(3);
      expect(second).toBeLessThanOrEqual(Math.max(10, first));
      // Every valid policy that names the Ready ClusterTokenIssuer and breaks nothing is issued.
      const validOnCluster = applied.filter(
        (a) =>
          a.c.kind === 'TokenPolicy' &&
          a.c.family === 'valid' &&
          !a.c.annotations &&
          (a.c.spec as { issuerRef?: { name?: string; kind?: string } }).issuerRef?.name ===
            world.clusterIssuer &&
          (a.c.spec as { secret?: { name?: string } }).secret?.name !== 'shared-secret',
      );
      expect(validOnCluster.length).toBeGreaterThan(0);
      expect(
        validOnCluster
          .filter((a) => outcome.get(`TokenPolicy/${a.name}`) !== 'True/Issued')
          .map(
            (a) =>
              `${describeCase(a)} → ${outcome.get(`TokenPolicy/${a.name}`) ?? '?'}: ${messages.get(`TokenPolicy/${a.name}`) ?? ''}`,
          ),
      ).toEqual([]);
    },
  );
});
