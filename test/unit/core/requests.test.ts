/**
 * pendingRequests: the rotate and revoke annotations are acted on once per value, a revoke that
 * cannot be understood is reported, and the schedule's due fire time (plus jitter) is counted from
 * the last one handled, else from the policy's creation.
 */
import { describe, expect, it } from 'vitest';
import { policySettings } from '../../../src/controllers/tokenPolicy/settings.ts';
import { pendingRequests, type RequestInput } from '../../../src/core/requests.ts';
import { onIssuer, schedule, tokenPolicy } from '../../support/policies.ts';
import { T0, at, record, version } from '../../support/builders.ts';

const HOUR = 3_600_000;
const hourly = policySettings(tokenPolicy('o', onIssuer('p'), schedule('0 * * * *')));
const plain = policySettings(tokenPolicy('o', onIssuer('p')));
const input = (overrides: Partial<RequestInput>): RequestInput => ({
  annotations: undefined,
  uid: 'uid-1',
  createdAt: T0,
  settings: plain,
  record: record(1, version(1)),
  now: at(10 * 60_000),
  jitterMaxMs: 0,
  ...overrides,
});

describe('pendingRequests', () => {
  it('takes a rotate or revoke value once: not again after the record says it was handled', () => {
    const annotations = { 'tokensmith.dev/rotate': '1', 'tokensmith.dev/revoke': 'previous:2' };
    expect(pendingRequests(input({ annotations })).pending).toEqual({
      rotate: '1',
      revoke: { value: 'previous:2', scope: 'previous' },
    });
    const handled = { ...record(1, version(1)), handled: { rotate: '1', revoke: 'previous:2' } };
    expect(pendingRequests(input({ annotations, record: handled })).pending).toEqual({});
  });

  it('reports a revoke value it cannot understand instead of acting on it', () => {
    const result = pendingRequests(input({ annotations: { 'tokensmith.dev/revoke': 'everything' } }));
    expect(result.pending).toEqual({});
    expect(result.invalidRevoke).toBe('everything');
  });

  it('counts schedule fire times from creation, then from the last one handled', () => {
    const fresh = pendingRequests(input({ settings: hourly, now: at(90 * 60_000) }));
    expect(fresh.pending.scheduledAt).toBe(at(HOUR).toISOString());
    expect(fresh.nextScheduledAt).toEqual(at(2 * HOUR));
    const handled = { ...record(1, version(1)), handled: { schedule: at(HOUR).toISOString() } };
    const after = pendingRequests(input({ settings: hourly, record: handled, now: at(90 * 60_000) }));
    expect(after.pending.scheduledAt).toBeUndefined();
    expect(after.nextScheduledAt).toEqual(at(2 * HOUR));
  });

  it('adds the per-policy jitter to fire times, the same for the same policy', () => {
    const a = pendingRequests(input({ settings: hourly, now: at(30 * 60_000), jitterMaxMs: 60_000 }));
    const b = pendingRequests(input({ settings: hourly, now: at(30 * 60_000), jitterMaxMs: 60_000 }));
    const jitter = (a.nextScheduledAt?.getTime() ?? 0) - at(HOUR).getTime();
    expect(jitter).toBeGreaterThanOrEqual(0);
    expect(jitter).toBeLessThan(60_000);
    expect(b.nextScheduledAt).toEqual(a.nextScheduledAt);
  });
});
