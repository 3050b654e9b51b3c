/**
 * The usage monitor's decisions on a fake clock, with in-memory ports for Events and status
 * writes and a real prom-client registry: a retiring token is a stale consumer only in the last
 * quarter of its overlap; signals are aggregated into one Event per object and signal per flush,
 * counted at once; a guessing burst fires once per window; and a flush writes at most
 * USAGE_WRITES_PER_FLUSH policies' status, the rest on the next flushes.
 */
import { describe, expect, it } from 'vitest';
import type { TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import type { AnyIssuer } from '../../../src/issuers/identity.ts';
import { createLogger } from '../../../src/log.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import {
  UNKNOWN_BURST,
  USAGE_WRITES_PER_FLUSH,
  UsageMonitor,
  type VersionUsage,
} from '../../../src/verify/usage.ts';
import { T0, retiring, version } from '../../support/builders.ts';
import { FakeClock } from '../../support/fakeClock.ts';
import { tokenPolicy } from '../../support/policies.ts';

const MINUTE = 60_000;
const CALLER = 'system:serviceaccount:orders:api';

function harness() {
  const clock = new FakeClock(T0);
  const events: { name: string | undefined; reason: string; note: string }[] = [];
  const writes: { policy: string; usage: VersionUsage[] }[] = [];
  const policies = new Map<string, TokenPolicy>();
  const metrics = createMetrics();
  const monitor = new UsageMonitor({
    clock,
    log: createLogger({ level: 'silent' }),
    events: {
      record: (object, event) => {
        events.push({ name: object.metadata?.name, reason: event.reason, note: event.note });
      },
    },
    metrics,
    replica: 'replica-a',
    writeUsage: (policy, usage) => {
      writes.push({ policy: policy.metadata?.name ?? '', usage });
      return Promise.resolve();
    },
    policy: (namespace, name) => policies.get(`${namespace}/${name}`),
  });
  const policy = (name: string) => {
    const p = { ...tokenPolicy(name), metadata: { name, namespace: 'orders', uid: `uid-${name}` } };
    policies.set(`orders/${name}`, p);
    return p;
  };
  const count = async (signal: string) =>
    (await metrics.usageSignals.get()).values.find((v) => v.labels.signal === signal)?.value ?? 0;
  return { clock, events, writes, monitor, policy, count };
}

describe('UsageMonitor', () => {
  it('names a retiring token presented in the last quarter of its overlap, not before', async () => {
    const { clock, events, monitor, policy, count } = harness();
    const p = policy('orders');
    const old = retiring(0)(version(1));
    monitor.presented(p, old, CALLER, 'sha256:aaaa', 8 * MINUTE);
    await clock.advance(5 * MINUTE);
    monitor.presented(p, old, CALLER, 'sha256:aaaa', 8 * MINUTE);
    await monitor.flush();
    expect(events).toEqual([]);
    await clock.advance(MINUTE + 1_000); // 6m01s of 8m: the last quarter
    monitor.presented(p, old, CALLER, 'sha256:aaaa', 8 * MINUTE);
    monitor.presented(p, old, CALLER, 'sha256:aaaa', 8 * MINUTE);
    await monitor.flush();
    expect(events).toEqual([
      {
        name: 'orders',
        reason: 'RetiringTokenPresented',
        note: expect.stringContaining(
          `2 times in the last 10s, by ${CALLER} (2); tokens sha256:aaaa (version 1)`,
        ) as string,
      },
    ]);
    expect(await count('RetiringTokenPresented')).toBe(2);
  });

  it('aggregates signals into one Event per object and signal per flush', async () => {
    const { events, monitor, policy } = harness();
    const p = policy('orders');
    for (let i = 0; i < 5; i++)
      monitor.signal(p, 'NotAConsumer', `system:serviceaccount:x:c${i % 2}`, 'sha256:bbbb', 2);
    monitor.signal(p, 'RevokedTokenPresented', CALLER, 'sha256:cccc', 1);
    await monitor.flush();
    expect(events.map((e) => e.reason).sort()).toEqual(['NotAConsumer', 'RevokedTokenPresented']);
    expect(events.find((e) => e.reason === 'NotAConsumer')?.note).toContain(
      '5 times in the last 10s, by system:serviceaccount:x:c0 (3), system:serviceaccount:x:c1 (2)',
    );
    await monitor.flush();
    expect(events).toHaveLength(2); // nothing new, no Event
  });

  it('fires a guessing burst once per window, on the issuer', async () => {
    const { events, monitor, count } = harness();
    const issuer = {
      kind: 'ClusterTokenIssuer',
      apiVersion: 'tokensmith.dev/v1alpha1',
      metadata: { name: 'payments', uid: 'u' },
    } as AnyIssuer;
    for (let i = 0; i < UNKNOWN_BURST * 2; i++) monitor.unknownToken(issuer, CALLER);
    await monitor.flush();
    expect(events.map((e) => [e.name, e.reason])).toEqual([['payments', 'UnknownTokenBurst']]);
    expect(await count('UnknownTokenBurst')).toBe(1);
    for (let i = 0; i < UNKNOWN_BURST - 1; i++) monitor.unknownToken(issuer, CALLER);
    await monitor.flush();
    expect(events).toHaveLength(1); // a new window, not enough yet
  });

  it('writes at most USAGE_WRITES_PER_FLUSH policies per flush, the rest on the next', async () => {
    const { writes, monitor, policy } = harness();
    const total = USAGE_WRITES_PER_FLUSH * 2 + 20;
    for (let i = 0; i < total; i++) monitor.presented(policy(`p${i}`), version(1), CALLER, 'sha256:dddd', 0);
    await monitor.flush();
    expect(writes).toHaveLength(USAGE_WRITES_PER_FLUSH);
    await monitor.flush();
    await monitor.flush();
    expect(writes).toHaveLength(total);
    expect(new Set(writes.map((w) => w.policy)).size).toBe(total);
    expect(writes[0]?.usage).toEqual([
      {
        version: 1,
        replica: 'replica-a',
        lastPresentedAt: T0.toISOString(),
        presentations: 1,
        callers: [CALLER],
      },
    ]);
  });
});
