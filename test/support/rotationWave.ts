/**
 * A rotation wave over many policies, for the failover and fault tests: issue them, ask one
 * rotation of each, wait until each shows it, and check it happened exactly once (one new version
 * for the one request, every token a Secret held recorded in Vault). Records are read from the
 * shared Vault unless the caller passes its own reader.
 */
import { expect } from 'vitest';
import type { PolicyTokenRecord } from '../../src/core/records.ts';
import { vaultClient } from './environment.ts';
import { annotateObject, createPolicy, readPolicy, waitUntil } from './resources.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaveTarget {
  namespace: string;
  issuer: string;
  /** The issuer's KV mount and path prefix (where the policies' records live). */
  kvMount: string;
  pathPrefix: string;
}

/** The policy's record in Vault, or undefined when there is none (or Vault does not answer). */
export async function waveRecord(target: WaveTarget, name: string): Promise<PolicyTokenRecord | undefined> {
  try {
    const path = `${target.kvMount}/data/${target.pathPrefix}/policies/${target.namespace}/${name}`;
    return ((await vaultClient().read(path)) as { data: { data: PolicyTokenRecord } }).data.data;
  } catch {
    return undefined;
  }
}

/** Waits until `count(names)` (polled every 400 ms) says all of them, or fails after `timeoutMs`. */
async function waitAll(
  what: string,
  names: string[],
  test: (name: string) => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  await waitUntil(
    what,
    async () => {
      const done = await Promise.all(names.map(test));
      await sleep(400);
      return `${done.filter(Boolean).length}/${names.length}`;
    },
    `${names.length}/${names.length}`,
    timeoutMs,
  );
}

/**
 * Creates the policies (opaque, 24 h, overlap 0, `historyLimit` versions kept) and waits until
 * each has issued version 1.
 */
export async function issueAll(
  target: WaveTarget,
  names: string[],
  timeoutMs = 120_000,
  historyLimit = 3,
): Promise<void> {
  await Promise.all(
    names.map((name) =>
      createPolicy(target.namespace, name, {
        issuerRef: { name: target.issuer },
        token: { type: 'opaque', ttl: '24h' },
        rotation: { overlap: '0s', historyLimit },
        secret: { name: `${name}-token` },
      }),
    ),
  );
  await waitAll(
    'every policy issued',
    names,
    async (n) => (await readPolicy(target.namespace, n))?.status?.currentVersion === 1,
    timeoutMs,
  );
}

/** Asks one rotation of every policy (the rotate annotation set to `request`). */
export async function askRotation(target: WaveTarget, names: string[], request: string): Promise<void> {
  await Promise.all(
    names.map((name) =>
      annotateObject(
        { plural: 'tokenpolicies', namespace: target.namespace, name },
        { 'tokensmith.dev/rotate': request },
      ),
    ),
  );
}

/** Waits until every policy's record and status show version `version`, minted for `request`. */
export async function waitRotated(
  target: WaveTarget,
  names: string[],
  request: string,
  version: number,
  timeoutMs = 120_000,
): Promise<void> {
  await waitAll(
    `every policy rotated for ${request}`,
    names,
    async (n) => {
      const record = await waveRecord(target, n);
      const status = (await readPolicy(target.namespace, n))?.status;
      return (
        record?.handled?.rotate === request &&
        record.currentVersion === version &&
        status?.currentVersion === version
      );
    },
    timeoutMs,
  );
}

/**
 * Exactly once: `version` is the last version (nothing minted after it), `requested` versions were
 * minted for a request in all, and every token any Secret held (`seen`, by policy) was recorded.
 */
export async function expectRotatedOnce(
  target: WaveTarget,
  names: string[],
  seen: Map<string, Set<string>>,
  version: number,
  requested = version - 1,
): Promise<void> {
  for (const name of names) {
    const record = await waveRecord(target, name);
    expect(record?.lastVersion, name).toBe(version);
    expect(
      record?.versions.filter((v) => v.mintReason === 'Requested'),
      name,
    ).toHaveLength(requested);
    const hashes = new Set(record?.versions.map((v) => v.tokenHash));
    for (const seenHash of seen.get(name) ?? [])
      expect(hashes.has(seenHash), `${name}: a Secret held a token Vault never recorded`).toBe(true);
  }
}
