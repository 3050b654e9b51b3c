/**
 * The kubectl plugin as a user runs it: `kubectl tokensmith rotate|revoke|status`, with the
 * environment's kubectl on PATH, against a running controller.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, environment, uniqueName } from '../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../support/operator.ts';
import {
  createClusterIssuer,
  createPolicy,
  readClusterIssuer,
  waitForIssuer,
  waitForPolicy,
  waitUntil,
} from '../support/resources.ts';
import { onIssuer, overlap, tokenPolicy, ttl } from '../support/policies.ts';

const run = promisify(execFile);
const PLUGIN = join(import.meta.dirname, '..', '..', 'bin', 'kubectl-tokensmith.js');
let namespace: string;
let operator: TestOperator;
let issuer: string;

async function plugin(...args: string[]): Promise<string> {
  const env = environment();
  const { stdout } = await run(process.execPath, [PLUGIN, ...args, '-n', namespace], {
    env: {
      ...process.env,
      KUBECONFIG: env.kubeconfigPath,
      PATH: `${dirname(env.kubectlPath)}:${process.env.PATH ?? ''}`,
    },
  });
  return stdout;
}

beforeAll(async () => {
  namespace = await createNamespace('plugin');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount }));
  issuer = uniqueName('plugin');
  await createClusterIssuer(issuer, { issuer: 'https://tokens.plugin.example', signing: { transitMount } });
  await waitForIssuer(issuer, 'True/KeyReady');
  await createPolicy(namespace, tokenPolicy('api', onIssuer(issuer), ttl('24h'), overlap('1h')));
  await waitForPolicy(namespace, 'api', 'True/Issued');
});

afterAll(async () => {
  await operator.stop();
});

describe('kubectl tokensmith', () => {
  it('rotates, revokes and shows status', async () => {
    expect(await plugin('status', 'api')).toMatch(/Version:\s+1\s+sha256:/);

    const rotated = await plugin('rotate', 'api');
    expect(rotated).toMatch(/^rotation requested \(tokensmith.dev\/rotate=\d{8}T\d+Z\)/);
    expect(rotated).toMatch(/v2\s+active\s+sha256:\S+\s+issued .* minted: Requested/);
    expect(rotated).toMatch(/v1\s+retiring/);

    const revoked = await plugin('revoke', 'api', '--scope', 'previous');
    expect(revoked).toMatch(/v1\s+revoked\s+.*\(Compromised\)/);
    expect(revoked).toMatch(/v2\s+active/);

    await expect(plugin('revoke', 'api', '--scope', 'everything')).rejects.toThrow(
      /--scope must be current, previous or all/,
    );
  });

  it('reports a leaked signing key with rotate-key --leaked', async () => {
    const before = (await readClusterIssuer(issuer)).status?.activeKid;
    const out = await plugin('rotate-key', issuer, '--leaked');
    const value = /tokensmith\.dev\/rotate-key=(leaked:\d{8}T\d+Z)\)/.exec(out)?.[1];
    expect(out).toMatch(new RegExp(`^leaked-key rotation requested for clustertokenissuer ${issuer} `));
    expect(value).toBeDefined();
    await waitUntil(
      'leak handled',
      async () => (await readClusterIssuer(issuer)).status?.handledRequests?.rotateKey,
      value,
    );
    const status = (await readClusterIssuer(issuer)).status;
    expect(status?.compromisedKids?.map((k) => k.kid)).toEqual([before]);
    expect(status?.activeKid).not.toBe(before);
  });
});
