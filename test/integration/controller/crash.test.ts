/**
 * Crash safety with real SIGKILLs (DESIGN.md invariants 1–4): the real controller runs as a child
 * process (`node src/main.ts run`), kills itself with TOKENSMITH_FAULT_INJECTION right after one
 * lifecycle step (mint, publish, activate, revoke), and a fresh process must converge from what
 * Vault and the Secret hold. Meanwhile the Secret is polled every 50 ms, and afterwards the world
 * is checked: the Secret holds the one active version Vault records, nothing was minted twice,
 * every version and index entry is accounted for, and the Secret never held a token that Vault
 * had not recorded (or had already revoked, or that had expired).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { TokenPolicySpec } from '../../../src/api/v1alpha1.generated.ts';
import { tokenHash } from '../../../src/core/fingerprint.ts';
import type { PolicyTokenRecord, TokenIndexEntry } from '../../../src/core/records.ts';
import {
  startController,
  stopAllControllers,
  type ControllerExit,
  type ControllerProcess,
} from '../../support/controllerProcess.ts';
import { createNamespace, uniqueName, vaultClient } from '../../support/environment.ts';
import { enableEngine } from '../../support/operator.ts';
import {
  annotateObject,
  createClusterIssuer,
  setIssuerOwner,
  createPolicy,
  readPolicy,
  secretData,
  waitForIssuer,
  waitForPolicy,
  waitUntil,
} from '../../support/resources.ts';

const KV_MOUNT = 'secret';
const CLEAN_EXIT: ControllerExit = { code: 0, signal: null };
const KILLED: ControllerExit = { code: null, signal: 'SIGKILL' };

let systemNamespace: string;
let issuer: string;
let pathPrefix: string;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isNotFound(err: unknown): boolean {
  return (err as { response?: { statusCode?: number } }).response?.statusCode === 404;
}

/** The policy's record in Vault, read with the root token; undefined before the first mint. */
async function vaultRecord(namespace: string, name: string): Promise<PolicyTokenRecord | undefined> {
  try {
    const path = `${KV_MOUNT}/data/${pathPrefix}/policies/${namespace}/${name}`;
    return ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Every index entry of the issuer that points into `namespace`, as `hash kind version`. */
async function indexEntries(namespace: string, name: string): Promise<string[]> {
  const vault = vaultClient();
  let keys: string[];
  try {
    keys = ((await vault.list(`${KV_MOUNT}/metadata/${pathPrefix}/index`)) as { data: { keys: string[] } })
      .data.keys;
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const entries = await Promise.all(
    keys.map(async (hash) => {
      const read = (await vault.read(`${KV_MOUNT}/data/${pathPrefix}/index/${hash}`)) as {
        data: { data: TokenIndexEntry };
      };
      return { hash, entry: read.data.data };
    }),
  );
  return entries
    .filter(({ entry }) => entry.namespace === namespace && entry.name === name)
    .map(({ hash, entry }) => `${hash} ${entry.kind} ${entry.version}`)
    .sort();
}

/** What the index must hold for a record: one entry per token and refresh token, nothing else. */
/** The index entries a record implies: one per token of a version not revoked (revoked means gone). */
function expectedIndex(record: PolicyTokenRecord): string[] {
  // Every recorded version, revoked ones included, until it is pruned.
  return record.versions
    .flatMap((v) => [
      `${v.tokenHash} token ${v.version}`,
      ...(v.refreshTokenHash ? [`${v.refreshTokenHash} refreshToken ${v.version}`] : []),
    ])
    .sort();
}

/** One read of the Secret: when the read began, what it held, and whether Vault recorded it then. */
interface Observation {
  at: number;
  token: string;
  /** Vault, read right after the Secret, already recorded this token. */
  recordedThen: boolean;
}

interface SecretWatch {
  stop(): Promise<Observation[]>;
}

const watches = new Set<SecretWatch>();

/**
 * Polls the Secret every 50 ms, then Vault: Vault is never behind the Secret, so a token read from
 * the Secret must already be in the record read just after it.
 */
function watchSecret(namespace: string, policy: string, secret: string): SecretWatch {
  const observations: Observation[] = [];
  const done = new AbortController();
  const loop = (async () => {
    while (!done.signal.aborted) {
      const at = Date.now();
      const token = (await secretData(namespace, secret))?.TOKEN;
      // A failed read (of either) is no observation; secretData already turns errors into undefined.
      const record = token === undefined ? undefined : await vaultRecord(namespace, policy).catch(() => null);
      if (token !== undefined && record !== null) {
        const hash = tokenHash(token);
        observations.push({
          at,
          token,
          recordedThen: record?.versions.some((v) => v.tokenHash === hash) ?? false,
        });
      }
      await sleep(50);
    }
  })();
  const watch: SecretWatch = {
    async stop() {
      done.abort();
      watches.delete(watch);
      await loop;
      return observations;
    },
  };
  watches.add(watch);
  return watch;
}

/** The last lifecycle step a controller logged before it died, as `kind[:reason]`. */
function lastStep(controller: ControllerProcess): string | undefined {
  const steps = controller
    .output()
    .split('\n')
    .filter((line) => line.includes('"executing step"'))
    .map((line) => JSON.parse(line) as { step: string; reason?: string });
  const last = steps.at(-1);
  return last && (last.reason ? `${last.step}:${last.reason}` : last.step);
}

/**
 * `converged` once Vault has no pending version and `version` is current and active, the Secret
 * holds it, no retiring version is left (overlap 0) and the status says so; else what is missing.
 */
async function convergence(
  namespace: string,
  name: string,
  secret: string,
  version: number,
): Promise<string> {
  const record = await vaultRecord(namespace, name);
  if (!record) return 'no Vault record';
  const states = record.versions.map((v) => `v${v.version}:${v.state}`).join(',');
  const active = record.versions.find((v) => v.state === 'active');
  if (record.versions.some((v) => v.state === 'pending' || v.state === 'retiring')) return `Vault: ${states}`;
  if (record.currentVersion !== version || active?.version !== version) return `Vault: ${states}`;
  const token = (await secretData(namespace, secret))?.TOKEN;
  if (token === undefined || tokenHash(token) !== active.tokenHash) return 'the Secret lags behind Vault';
  const status = (await readPolicy(namespace, name))?.status;
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  if (
    ready?.status !== 'True' ||
    status?.currentVersion !== version ||
    status.fingerprint !== active.fingerprint
  )
    return `status: ${ready?.status ?? '-'}/${ready?.reason ?? '-'} v${status?.currentVersion ?? '-'}`;
  return 'converged';
}

interface CrashCase {
  name: string;
  /** TOKENSMITH_FAULT_INJECTION. */
  fault: string;
  token: TokenPolicySpec['token'];
  /** The crash hits the very first issuance instead of a requested rotation. */
  initial?: boolean;
  /**
   * What asks for the rotation: the rotate annotation (default; a routine rotation records the new
   * version as current at once: mint → publish) or revoke=current (a compromise: mint pending →
   * publish → activate, which revokes the previous version).
   */
  request?: 'rotate' | 'revoke';
}

const opaque: TokenPolicySpec['token'] = { type: 'opaque', opaque: { prefix: 'tsk_' }, ttl: '24h' };
const jwt: TokenPolicySpec['token'] = {
  type: 'jwt',
  jwt: { audience: ['crash-api'], claims: { tenant: 'acme' } },
  scopes: ['orders:read'],
  refresh: { enabled: true },
  ttl: '24h',
};

const CASES: CrashCase[] = [
  { name: 'after the first mint (Initial)', fault: 'mint:Initial', token: opaque, initial: true },
  { name: 'after the rotation mint (Requested)', fault: 'mint:Requested', token: opaque },
  { name: 'after publishing to the Secret', fault: 'publish', token: opaque },
  {
    name: 'after activating a replacement for a compromised version',
    fault: 'activate',
    token: opaque,
    request: 'revoke',
  },
  { name: 'after revoking the previous version', fault: 'revoke', token: opaque },
  { name: 'after the rotation mint of a JWT with a refresh token', fault: 'mint:Requested', token: jwt },
];

beforeAll(async () => {
  systemNamespace = await createNamespace('crash-system');
  const transitMount = await enableEngine('transit', 'transit');
  issuer = uniqueName('crash');
  pathPrefix = `tokensmith-crash/${issuer}`;
  // Every field explicit, so any controller that reconciles this issuer agrees on where things are.
  setIssuerOwner(systemNamespace);
  await createClusterIssuer(issuer, {
    issuer: 'https://tokens.crash.example',
    vault: { mount: KV_MOUNT, pathPrefix },
    signing: { transitMount },
    allowed: { claims: ['tenant'] },
  });
  const controller = startController({
    namespaces: [systemNamespace],
    clusterResourceNamespace: systemNamespace,
  });
  try {
    await waitForIssuer(issuer, 'True/KeyReady');
  } catch (err) {
    throw new Error(`${(err as Error).message}\ncontroller output:\n${controller.tail()}`, { cause: err });
  } finally {
    await controller.stop();
  }
});

afterEach(async () => {
  await Promise.all([...watches].map((w) => w.stop().catch(() => [])));
  await stopAllControllers();
});

afterAll(async () => {
  await stopAllControllers();
});

describe('crash safety: the controller SIGKILLed at each step converges on restart', () => {
  // Generous ceilings: three controller processes start per case, on a busy 2-core machine.
  it.each(CASES)(
    '$name ($fault)',
    { timeout: 150_000 },
    async ({ fault, token, initial, request = 'rotate' }) => {
      const namespace = await createNamespace('crash');
      const name = uniqueName('policy');
      const secret = `${name}-token`;
      const rotateValue = 'crash-1';
      const controllers: ControllerProcess[] = [];
      const start = (faultInjection?: string) => {
        const c = startController({
          namespaces: [namespace],
          clusterResourceNamespace: systemNamespace,
          ...(faultInjection ? { faultInjection } : {}),
        });
        controllers.push(c);
        return c;
      };
      onTestFailed(() => {
        for (const [i, c] of controllers.entries()) {
          process.stderr.write(`\n--- controller #${i + 1} (pid ${c.pid}) output ---\n${c.tail(60)}\n`);
        }
      });
      const spec: TokenPolicySpec = {
        issuerRef: { name: issuer },
        token,
        rotation: { overlap: '0s' }, // the previous version is revoked as soon as its successor is active
        secret: { name: secret },
      };

      let watch: SecretWatch;
      let faulty: ControllerProcess;
      let v1Token: string | undefined;
      if (initial) {
        // 2. (No step 1: the crash hits the first issuance.) Crash right after recording v1.
        watch = watchSecret(namespace, name, secret);
        faulty = start(fault);
        await createPolicy(namespace, name, spec);
      } else {
        // 1. Issue v1 with a healthy controller, then stop it.
        await createPolicy(namespace, name, spec);
        const first = start();
        await waitForPolicy(namespace, name, 'True/Issued', 60_000);
        expect(await first.stop()).toEqual(CLEAN_EXIT);
        const before = await vaultRecord(namespace, name);
        expect(before).toMatchObject({ currentVersion: 1, lastVersion: 1 });
        v1Token = (await secretData(namespace, secret))?.TOKEN;
        expect(tokenHash(v1Token ?? '')).toBe(before?.versions[0]?.tokenHash);

        // 2. Restart with fault injection, ask for a rotation, and let the process kill itself.
        watch = watchSecret(namespace, name, secret);
        faulty = start(fault);
        await annotateObject(
          { plural: 'tokenpolicies', namespace, name },
          request === 'rotate'
            ? { 'tokensmith.dev/rotate': rotateValue }
            : { 'tokensmith.dev/revoke': 'current' },
        );
      }
      expect(await faulty.waitForExit(60_000)).toEqual(KILLED);
      expect(faulty.output()).toContain('fault injection enabled');
      // It died right after the step asked for (a revoke step logs its reason too).
      expect(lastStep(faulty)).toMatch(new RegExp(`^${fault}${fault.includes(':') ? '$' : '(:|$)'}`));

      // 3. Restart without fault injection; wait until everything has converged.
      const expectedVersion = initial ? 1 : 2;
      const last = start();
      await waitUntil(
        `policy ${name} converged on version ${expectedVersion}`,
        () => convergence(namespace, name, secret, expectedVersion),
        'converged',
        60_000,
      );
      await sleep(1_000); // a converged controller must not do anything more
      expect(await last.stop()).toEqual(CLEAN_EXIT);
      const observations = await watch.stop();

      // 4. The world.
      const record = await vaultRecord(namespace, name);
      if (!record) throw new Error('no Vault record');
      const now = Date.now();

      // Nothing minted twice: one version per issuance and requested rotation, numbered 1..n.
      expect(record.lastVersion).toBe(expectedVersion);
      expect(record.versions.map((v) => v.version)).toEqual(initial ? [1] : [1, 2]);
      expect(new Set(record.versions.map((v) => v.tokenHash)).size).toBe(record.versions.length);
      const compromise = request === 'revoke';
      expect(record.versions.map((v) => v.mintReason)).toEqual(
        initial ? ['Initial'] : ['Initial', compromise ? 'Compromised' : 'Requested'],
      );
      if (!initial && compromise) expect(record.handled?.revoke).toBe('current');
      else if (!initial) expect(record.handled?.rotate).toBe(rotateValue);

      // Exactly one active version, the current one, unexpired; no pending, none retiring.
      const active = record.versions.filter((v) => v.state === 'active');
      expect(active).toHaveLength(1);
      const current = active[0];
      if (!current) throw new Error('no active version');
      expect(current.version).toBe(record.currentVersion);
      expect(Date.parse(current.expiresAt)).toBeGreaterThan(now);
      expect(record.versions.filter((v) => v.state === 'pending' || v.state === 'retiring')).toEqual([]);

      // A compromised previous version: revoked at once when its replacement was published.
      if (!initial && compromise) {
        const previous = record.versions.find((v) => v.version === 1);
        expect(previous).toMatchObject({ state: 'revoked', revokeReason: 'Compromised' });
        expect(previous?.token).toBeUndefined();
        expect(Date.parse(previous?.revokedAt ?? '')).toBeGreaterThanOrEqual(
          Date.parse(current.publishedAt ?? ''),
        );
      }
      // The previous version: revoked once its (zero) overlap ended, not before the new one was active.
      if (!initial && !compromise) {
        const previous = record.versions.find((v) => v.version === 1);
        expect(previous).toMatchObject({
          state: 'revoked',
          revokeReason: 'OverlapEnded',
          tokenHash: tokenHash(v1Token ?? ''),
        });
        expect(previous?.token).toBeUndefined(); // revoked means gone: the plaintext left the record
        expect(previous?.retiringSince).toBe(current.publishedAt);
        expect(Date.parse(previous?.revokedAt ?? '')).toBeGreaterThanOrEqual(
          Date.parse(current.publishedAt ?? ''),
        );
      }

      // No lost live token: the Secret holds the active version (and its refresh token).
      const data = await secretData(namespace, secret);
      expect(data?.TOKEN).toBe(current.token);
      expect(data?.TOKEN_EXPIRES_AT).toBe(current.expiresAt);
      if (token.refresh?.enabled) {
        expect(current.refreshToken).toBeDefined();
        expect(data?.REFRESH_TOKEN).toBe(current.refreshToken);
      }
      if (token.type === 'jwt') expect(current.jti).toBeDefined();

      // No orphan: the index holds exactly the recorded live tokens (and refresh tokens), each pointing
      // at its version; nothing minted during the crash escaped the record.
      expect(await indexEntries(namespace, name)).toEqual(expectedIndex(record));

      // The Secret never held a token Vault did not record, nor one revoked or expired when read.
      expect(observations.length).toBeGreaterThan(10);
      const violations: string[] = [];
      for (const o of observations) {
        const version = record.versions.find((v) => v.tokenHash === tokenHash(o.token));
        const when = new Date(o.at).toISOString();
        if (!version || !o.recordedThen) {
          violations.push(`${when}: the Secret held a token Vault did not record`);
          continue;
        }
        if (version.revokedAt !== undefined && Date.parse(version.revokedAt) <= o.at)
          violations.push(`${when}: the Secret held v${version.version}, revoked at ${version.revokedAt}`);
        if (Date.parse(version.expiresAt) <= o.at)
          violations.push(`${when}: the Secret held v${version.version}, expired at ${version.expiresAt}`);
      }
      expect(violations).toEqual([]);
      expect(observations.at(-1)?.token).toBe(current.token);
      const seen = new Set(observations.map((o) => o.token));
      expect(seen.size).toBeLessThanOrEqual(record.versions.length);
    },
  );
});
