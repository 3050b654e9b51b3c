/**
 * Failover end to end, sharded and not (README "Past one machine", "Failure behaviour"). Sharded:
 * two controller processes with --shards=4 each hold two shard Leases and act only on the policies
 * of their own shards; a rotation wave is asked of every policy, one replica SIGKILLs itself right
 * after its first rotation mint (mid-wave, reconciles in flight), and the other takes its shards
 * over once their Leases expire and finishes the wave. Unsharded: the leader is killed the same way
 * and the follower takes over. Either way every policy rotates exactly once for the one request,
 * the version the dead replica recorded is the one published, and no Secret ever held a token
 * Vault had not recorded.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { shardOfKey } from '../../../src/kube/shardLeases.ts';
import {
  startController,
  stopAllControllers,
  type ControllerProcess,
} from '../../support/controllerProcess.ts';
import { adminKubeConfig, createNamespace, uniqueName } from '../../support/environment.ts';
import { enableEngine } from '../../support/operator.ts';
import {
  askRotation,
  expectRotatedOnce,
  issueAll,
  waitRotated,
  waveRecord,
  type WaveTarget,
} from '../../support/rotationWave.ts';
import { watchSecretTokens } from '../../support/secretTokens.ts';
import { createClusterIssuer, setIssuerOwner, waitForIssuer, waitUntil } from '../../support/resources.ts';

const SHARDS = 4;
const POLICIES = 60;
const KV_MOUNT = 'secret';

let systemNamespace: string;
let namespace: string;
let issuer: string;
let pathPrefix: string;

beforeAll(async () => {
  systemNamespace = await createNamespace('shards-system');
  namespace = await createNamespace('shards');
  const transitMount = await enableEngine('transit', 'transit');
  issuer = uniqueName('shards');
  pathPrefix = `tokensmith-shards/${issuer}`;
  setIssuerOwner(systemNamespace);
  await createClusterIssuer(issuer, {
    issuer: 'https://tokens.shards.example',
    vault: { mount: KV_MOUNT, pathPrefix },
    signing: { transitMount },
  });
});

const target = (): WaveTarget => ({ namespace, issuer, kvMount: KV_MOUNT, pathPrefix });

afterAll(async () => {
  await stopAllControllers();
});

/** Holder of each shard Lease, by shard. */
async function shardHolders(): Promise<Map<number, string>> {
  const { items } = await adminKubeConfig().makeApiClient(CoordinationV1Api).listNamespacedLease({
    namespace: systemNamespace,
    labelSelector: 'tokensmith.dev/lease-group=tokensmith-controller,tokensmith.dev/lease-role=shard',
  });
  const holders = new Map<number, string>();
  for (const lease of items) {
    const shard = Number(/-shard-(\d+)$/.exec(lease.metadata?.name ?? '')?.[1]);
    if (lease.spec?.holderIdentity) holders.set(shard, lease.spec.holderIdentity);
  }
  return holders;
}

interface LogLine {
  msg: string;
  /** ISO time. */
  time: string;
  tokenPolicy?: string;
  step?: string;
  reason?: string;
  shard?: number;
}

function logLines(controller: ControllerProcess): LogLine[] {
  return controller
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The lifecycle steps a controller executed (each names its policy). */
function stepsOf(controller: ControllerProcess): LogLine[] {
  return logLines(controller).filter((l) => l.msg === 'executing step' && l.tokenPolicy !== undefined);
}

/** Asks one rotation of every policy; `victim` (fault-injected) dies after its first rotation mint. */
async function waveKilling(
  victim: ControllerProcess,
  names: string[],
): Promise<{ killedAt: number; recordedByVictim: string[] }> {
  await askRotation(target(), names, 'wave-1');
  const exit = await victim.waitForExit(60_000);
  const killedAt = Date.now();
  expect(exit.signal).toBe('SIGKILL');
  expect(stepsOf(victim).at(-1)).toMatchObject({ step: 'mint', reason: 'Requested' });
  // What the victim had recorded when it died: its policies whose version 2 exists already (with
  // several reconciles in flight, its last logged step need not be the one that completed).
  const own = new Set(stepsOf(victim).map((l) => l.tokenPolicy?.split('/')[1]));
  const recorded = await Promise.all(
    names.map(async (n) =>
      own.has(n) && (await waveRecord(target(), n))?.lastVersion === 2 ? n : undefined,
    ),
  );
  const recordedByVictim = recorded.filter((n): n is string => n !== undefined);
  expect(recordedByVictim.length).toBeGreaterThan(0);
  return { killedAt, recordedByVictim };
}

/** The survivor did not mint a rotation for the policies whose new version the victim recorded. */
function expectPublishedVictimsVersion(survivor: ControllerProcess, recordedByVictim: string[]): void {
  const recorded = new Set(recordedByVictim.map((n) => `${namespace}/${n}`));
  expect(
    stepsOf(survivor).filter(
      (l) => recorded.has(l.tokenPolicy ?? '') && l.step === 'mint' && l.reason === 'Requested',
    ),
  ).toEqual([]);
}

describe('sharding: two replicas, one killed mid-wave', () => {
  it(
    'splits the policies, takes a dead replica’s shards over, and rotates each policy exactly once',
    { timeout: 240_000 },
    async () => {
      const start = (faultInjection?: string) =>
        startController({
          namespaces: [namespace],
          clusterResourceNamespace: systemNamespace,
          leaderElectionNamespace: systemNamespace,
          extraArgs: [`--shards=${SHARDS}`, '--metrics-port=0'],
          ...(faultInjection ? { faultInjection } : {}),
        });
      // a kills itself right after its first rotation mint (the record written, the Secret not yet).
      const a = start('mint:Requested');
      const b = start();
      onTestFailed(() => {
        for (const [n, c] of [
          ['a', a],
          ['b', b],
        ] as const)
          process.stderr.write(`\n--- replica ${n} (pid ${c.pid}) ---\n${c.tail(60)}\n`);
      });
      await waitUntil(
        'each replica holds two shards',
        async () => {
          const holders = [...(await shardHolders()).values()];
          const per = new Map<string, number>();
          for (const h of holders) per.set(h, (per.get(h) ?? 0) + 1);
          return holders.length === SHARDS &&
            [...per.values()].every((n) => n === SHARDS / 2) &&
            per.size === 2
            ? 'split'
            : `holders: ${holders.join(', ')}`;
        },
        'split',
        60_000,
      );
      const split = await shardHolders();
      await waitForIssuer(issuer, 'True/KeyReady', 60_000);

      const names = Array.from({ length: POLICIES }, (_, i) => `policy-${i}`);
      const secrets = watchSecretTokens(namespace);
      await issueAll(target(), names);

      // Each replica acted only on the policies of the shards it holds, and together on all of them.
      expect(await shardHolders()).toEqual(split);
      const shardsOf = (c: ControllerProcess) => {
        const ownKeys = new Set(stepsOf(c).map((l) => shardOfKey(l.tokenPolicy ?? '', SHARDS)));
        return [...ownKeys].sort();
      };
      const [shardsA, shardsB] = [shardsOf(a), shardsOf(b)];
      expect(shardsA).toHaveLength(SHARDS / 2);
      expect(shardsB).toHaveLength(SHARDS / 2);
      expect(shardsA.filter((s) => shardsB.includes(s))).toEqual([]);
      // …and those are the shards the Leases name it holder of.
      const holderA = new Set(shardsA.map((s) => split.get(s)));
      const holderB = new Set(shardsB.map((s) => split.get(s)));
      expect(holderA.size).toBe(1);
      expect(holderB.size).toBe(1);
      expect([...holderA][0]).not.toBe([...holderB][0]);
      const issuedBy = new Set(
        stepsOf(a)
          .concat(stepsOf(b))
          .map((l) => l.tokenPolicy),
      );
      expect(issuedBy.size).toBe(POLICIES);

      const { killedAt, recordedByVictim } = await waveKilling(a, names);

      await waitRotated(target(), names, 'wave-1', 2);
      const waveDoneAt = Date.now();
      const seen = await secrets.stop();

      // b holds every shard now; when it took a's over, after a's Leases expired.
      const final = await shardHolders();
      expect(final.size).toBe(SHARDS);
      expect([...final.values()].every((h) => holderB.has(h))).toBe(true);
      const takeovers = logLines(b).filter(
        (l) => l.msg === 'acquired shard' && Date.parse(l.time) >= killedAt - 1_000,
      );
      expect(takeovers.map((l) => l.shard).sort()).toEqual(shardsA);
      const takeoverMs = Math.max(...takeovers.map((l) => Date.parse(l.time))) - killedAt;
      console.log(
        `sharding: a killed mid-wave; b took its ${SHARDS / 2} shards over after ${(takeoverMs / 1000).toFixed(1)} s (lease 15 s), the wave finished ${((waveDoneAt - killedAt) / 1000).toFixed(1)} s after the kill`,
      );

      await expectRotatedOnce(target(), names, seen, 2);
      expectPublishedVictimsVersion(b, recordedByVictim);
      await b.stop();
    },
  );
});

describe('one leader (unsharded), killed mid-wave', () => {
  it(
    'the follower takes over within the Lease duration and each policy rotates exactly once',
    { timeout: 240_000 },
    async () => {
      namespace = await createNamespace('failover');
      const leases = await createNamespace('failover-leases');
      const start = (faultInjection?: string) =>
        startController({
          namespaces: [namespace],
          clusterResourceNamespace: systemNamespace,
          leaderElectionNamespace: leases,
          extraArgs: ['--metrics-port=0'],
          ...(faultInjection ? { faultInjection } : {}),
        });
      const a = start('mint:Requested');
      onTestFailed(() => {
        process.stderr.write(`\n--- leader (pid ${a.pid}) ---\n${a.tail(60)}\n`);
      });
      await expect.poll(() => a.output(), { timeout: 30_000 }).toContain('became leader');
      const b = start();
      await expect.poll(() => b.output(), { timeout: 30_000 }).toContain('leader lease is held; waiting');
      const names = Array.from({ length: 40 }, (_, i) => `policy-${i}`);
      const secrets = watchSecretTokens(namespace);
      await issueAll(target(), names);
      expect(stepsOf(b)).toEqual([]); // the follower did nothing

      const { killedAt, recordedByVictim } = await waveKilling(a, names);
      await expect.poll(() => b.output(), { timeout: 30_000 }).toContain('became leader');
      const led = logLines(b).find((l) => l.msg === 'became leader');
      const takeoverMs = Date.parse(led?.time ?? '') - killedAt;
      await waitRotated(target(), names, 'wave-1', 2);
      const doneMs = Date.now() - killedAt;
      await expectRotatedOnce(target(), names, await secrets.stop(), 2);
      expectPublishedVictimsVersion(b, recordedByVictim);
      console.log(
        `failover: the leader killed mid-wave; the follower led ${(takeoverMs / 1000).toFixed(1)} s after the kill (lease 15 s) and finished the wave ${(doneMs / 1000).toFixed(1)} s after it`,
      );
      await b.stop();
    },
  );
});
