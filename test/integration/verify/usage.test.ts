/**
 * Usage monitoring against the real servers: each suspicious use is done for real and found as a
 * Warning Event on the policy (or, for a burst of made-up tokens, on the issuer), as the counter
 * tokensmith_usage_signals_total on /metrics, and as an audit line — and no token shows up in any
 * of them. Live presentations show in the policy's status.usage (per version, when last, how often,
 * by whom), and `kubectl tokensmith status` prints them. The controller runs on a ShiftableClock so
 * that expiry and the end of an overlap come without waiting.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../env/settings.ts';
import { EventsV1Api } from '@kubernetes/client-node';
import { adminKubeConfig, createNamespace, environment } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import { onIssuer, tokenPolicy, ttl, withRefresh } from '../../support/policies.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  eventsAbout,
  readClusterIssuer,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { ShiftableClock } from '../../support/shiftableClock.ts';
import {
  httpsCall,
  introspectAt,
  serviceAccountToken,
  verifyConfig,
  verifyTls,
  type VerifyTls,
} from '../../support/verifyServer.ts';

const MINUTE = 60_000;
const clock = new ShiftableClock();
let namespace: string;
let outsiders: string;
let tls: VerifyTls;
let issuer: string;
let operator: TestOperator;
let port: number;
let metricsPort: number;
let client: string;
let outsider: string;
/** Every token the test handled, for the leak checks. */
const tokens: string[] = [];

const introspect = async (token: string, caller = client) =>
  JSON.parse(
    (await introspectAt(port, tls.caPem, `/issuers/cluster/${issuer}/introspect`, caller, token)).body,
  ) as {
    active: boolean;
  };

async function metrics(): Promise<string> {
  const answer = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  return answer.text();
}

/** The value of tokensmith_usage_signals_total for `signal` on namespace/name. */
async function signalCount(signal: string, name: string, ns = namespace): Promise<number> {
  const line = (await metrics())
    .split('\n')
    .find(
      (l) =>
        l.startsWith('tokensmith_usage_signals_total{') &&
        l.includes(`signal="${signal}"`) &&
        l.includes(`namespace="${ns}"`) &&
        l.includes(`name="${name}"`),
    );
  return Number(line?.split(' ').at(-1) ?? 0);
}

/** The counter and the audit line of `signal` about `name` (a policy here, or the issuer). */
async function expectCountedAndAudited(signal: string, name: string, ns = namespace): Promise<void> {
  expect(await signalCount(signal, name, ns), `${signal} counter`).toBeGreaterThanOrEqual(1);
  const target = ns ? `"policy":"${ns}/${name}"` : `"issuer":"${name}"`;
  const audited = operator
    .logs()
    .split('\n')
    .some((l) => l.includes('"audit":"usage"') && l.includes(`"signal":"${signal}"`) && l.includes(target));
  expect(audited, `${signal} audit line`).toBe(true);
}

async function policyEvents(name: string): Promise<string[]> {
  return eventsAbout(namespace, (await readPolicy(namespace, name))?.metadata?.uid);
}

async function issued(name: string, ...modifiers: Parameters<typeof tokenPolicy>[1][]) {
  await createPolicy(namespace, tokenPolicy(name, onIssuer(issuer), ...modifiers));
  await waitForPolicy(namespace, name, 'True/Issued');
  const data = (await secretData(namespace, name)) ?? {};
  tokens.push(...Object.values(data));
  return data;
}

beforeAll(async () => {
  namespace = await createNamespace('usage');
  outsiders = await createNamespace('usage-outsiders');
  tls = await verifyTls();
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(
    { ...testConfig({ namespace, transitMount }), verify: verifyConfig(tls, 1000), metrics: { port: 0 } },
    clock,
  );
  port = (await operator.operator.verifyServer)?.port ?? 0;
  metricsPort = (await operator.operator.metricsServer)?.port ?? 0;
  issuer = await createReadyClusterIssuer('usage', transitMount);
  client = await serviceAccountToken(namespace, 'orders-api', 'tokensmith');
  outsider = await serviceAccountToken(outsiders, 'outsider', 'tokensmith');
}, 60_000);

afterAll(async () => {
  await operator.stop();
});

describe('usage signals', () => {
  it('a revoked token presented: Event, counter and audit line name the caller', async () => {
    const secret = await issued('revoked');
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'revoked' },
      { 'tokensmith.dev/revoke': 'current' },
    );
    await expect
      .poll(async () => (await introspect(secret.TOKEN ?? '')).active, { timeout: 15_000 })
      .toBe(false);
    await expect
      .poll(
        async () => (await policyEvents('revoked')).find((e) => e.startsWith('RevokedTokenPresented: ')),
        { timeout: 5_000 },
      )
      .toMatch(
        new RegExp(
          `a revoked token was presented: \\d+ times? in the last 0.5s, by system:serviceaccount:${namespace}:orders-api \\(\\d+\\); tokens sha256:[0-9a-f]{12} \\(version 1\\)`,
        ),
      );
    await expectCountedAndAudited('RevokedTokenPresented', 'revoked');
    expect(operator.logs()).toMatch(
      /"audit":"usage","signal":"RevokedTokenPresented","caller":"system:serviceaccount:[^"]+:orders-api","policy":"[^"]+\/revoked"/,
    );
  });

  it('a caller that is not a consumer', async () => {
    const secret = await issued('private');
    expect((await introspect(secret.TOKEN ?? '', outsider)).active).toBe(false);
    await expect
      .poll(async () => (await policyEvents('private')).find((e) => e.startsWith('NotAConsumer: ')), {
        timeout: 5_000,
      })
      .toContain(`by system:serviceaccount:${outsiders}:outsider (1)`);
    expect(await signalCount('NotAConsumer', 'private')).toBe(1);
    await expectCountedAndAudited('NotAConsumer', 'private');
  });

  it('a spent refresh token replayed', async () => {
    const secret = await issued('replayed', withRefresh());
    const redeem = () =>
      httpsCall(port, tls.caPem, `/issuers/cluster/${issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${client}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: secret.REFRESH_TOKEN ?? '',
        }).toString(),
      });
    const first = await redeem();
    expect(first.status).toBe(200);
    const answer = JSON.parse(first.body) as Record<string, string>;
    tokens.push(answer.access_token ?? '', answer.refresh_token ?? '');
    clock.advance(11_000); // past the retry grace: a replay, not a retry
    expect((await redeem()).status).toBe(400);
    expect(await signalCount('RefreshTokenReplayed', 'replayed')).toBe(1);
    expect(await policyEvents('replayed')).toContainEqual(
      expect.stringMatching(/^RefreshTokenReplayed: refresh token sha256:/),
    );
    expect(operator.logs()).toMatch(/"audit":"usage","signal":"RefreshTokenReplayed"/);
  });

  it('a burst of made-up tokens from one caller, on the issuer', async () => {
    for (let i = 0; i < 25; i++) expect((await introspect(`tsk_guess_${i}`)).active).toBe(false);
    const cluster = await readClusterIssuer(issuer);
    await expect
      .poll(
        async () =>
          (await eventsAbout('default', cluster.metadata?.uid)).find((e) =>
            e.startsWith('UnknownTokenBurst: '),
          ),
        {
          timeout: 5_000,
        },
      )
      .toContain(`by system:serviceaccount:${namespace}:orders-api`);
    expect(await signalCount('UnknownTokenBurst', issuer, '')).toBe(1);
    await expectCountedAndAudited('UnknownTokenBurst', issuer, '');
  });

  it('a retiring token still presented in the last quarter of its overlap names the stale consumer; status shows usage', async () => {
    const secret = await issued('overlapping', ttl('1h'), (spec) => ({
      ...spec,
      rotation: { ...spec.rotation, overlap: '8m' },
    }));
    expect((await introspect(secret.TOKEN ?? '')).active).toBe(true);
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'overlapping' },
      { 'tokensmith.dev/rotate': 'now' },
    );
    await expect
      .poll(async () => (await secretData(namespace, 'overlapping'))?.TOKEN, { timeout: 15_000 })
      .not.toBe(secret.TOKEN);
    tokens.push(...Object.values((await secretData(namespace, 'overlapping')) ?? {}));
    // Early in the overlap: fine.
    expect((await introspect(secret.TOKEN ?? '')).active).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect((await policyEvents('overlapping')).some((e) => e.startsWith('RetiringTokenPresented'))).toBe(
      false,
    );
    // Six and a half minutes into the eight: the consumer has not picked up the new token.
    clock.advance(6.5 * MINUTE);
    expect((await introspect(secret.TOKEN ?? '')).active).toBe(true);
    await expect
      .poll(
        async () => (await policyEvents('overlapping')).find((e) => e.startsWith('RetiringTokenPresented: ')),
        { timeout: 5_000 },
      )
      .toContain(
        `has not picked up the new token: 1 time in the last 0.5s, by system:serviceaccount:${namespace}:orders-api (1)`,
      );
    await expectCountedAndAudited('RetiringTokenPresented', 'overlapping');
    // status.usage: version 1 presented three times, by the consumer.
    await expect
      .poll(
        async () =>
          (await readPolicy(namespace, 'overlapping'))?.status?.usage?.find((u) => u.version === 1)
            ?.presentations,
        {
          timeout: 5_000,
        },
      )
      .toBe(3);
    const usage = (await readPolicy(namespace, 'overlapping'))?.status?.usage?.find((u) => u.version === 1);
    expect(usage).toMatchObject({
      replica: operator.config.leaderElection.identity,
      callers: [`system:serviceaccount:${namespace}:orders-api`],
    });
    // kubectl tokensmith status prints it.
    const env = environment();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'kubectl-tokensmith.js'), 'status', 'overlapping', '-n', namespace],
      {
        env: {
          ...process.env,
          KUBECONFIG: env.kubeconfigPath,
          PATH: `${dirname(env.kubectlPath)}:${process.env.PATH ?? ''}`,
        },
      },
    );
    expect(stdout).toMatch(/Usage:/);
    expect(stdout).toMatch(
      new RegExp(`version 1 .*3 presentations.*last .*by system:serviceaccount:${namespace}:orders-api`),
    );
  });

  it('an expired token presented', async () => {
    const secret = await issued('expiring', ttl('1h'));
    clock.advance(2 * 60 * MINUTE);
    expect((await introspect(secret.TOKEN ?? '')).active).toBe(false);
    await expect
      .poll(
        async () => (await policyEvents('expiring')).find((e) => e.startsWith('ExpiredTokenPresented: ')),
        { timeout: 5_000 },
      )
      .toContain('an expired token was presented');
    await expectCountedAndAudited('ExpiredTokenPresented', 'expiring');
  });

  it('puts no token in any Event, log line or metric', async () => {
    const list = await adminKubeConfig().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
    const events = list.items.map((e) => `${e.reason ?? ''}: ${e.note ?? ''}`).join('\n');
    expect(events).toMatch(/RevokedTokenPresented|NotAConsumer/);
    const everything = [operator.logs(), await metrics(), events].join('\n');
    for (const token of tokens.filter((t) => t.length > 16)) expect(everything).not.toContain(token);
  });
});
