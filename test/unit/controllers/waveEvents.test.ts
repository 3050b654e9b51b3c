/**
 * Routine Events during a wave (controllers/tokenPolicy/waveEvents.ts): the first few per issuer
 * and window go out per policy, the rest become one Event per reason on the issuer when the
 * window ends; windows are per issuer, and a quiet period sends Events per policy again.
 */
import { describe, expect, it } from 'vitest';
import { WaveEvents } from '../../../src/controllers/tokenPolicy/waveEvents.ts';
import type { EventSink } from '../../../src/controllers/tokenPolicy/ports.ts';
import { FakeClock } from '../../support/fakeClock.ts';

type Recorded = { kind: string; name: string; namespace?: string; reason: string; note: string };

function sink(): EventSink & { seen: Recorded[] } {
  const seen: Recorded[] = [];
  return {
    seen,
    record(object, event) {
      seen.push({
        kind: object.kind,
        name: object.metadata?.name ?? '',
        ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}),
        reason: event.reason,
        note: event.note,
      });
    },
  };
}

const policy = (namespace: string, name: string) => ({
  apiVersion: 'tokensmith.dev/v1alpha1',
  kind: 'TokenPolicy',
  metadata: { namespace, name },
});
const rotated = (why: string) => ({
  type: 'Normal' as const,
  reason: 'Rotated',
  action: 'Rotate',
  note: 'token version 2 published',
  why,
});
const shared = { kind: 'ClusterTokenIssuer' as const, name: 'payments' };

describe('WaveEvents', () => {
  it('sends the first per policy, then one Event per reason on the issuer for the rest', async () => {
    const clock = new FakeClock();
    const out = sink();
    const waves = new WaveEvents(out, clock, { windowMs: 10_000, perWindow: 3 });
    for (let i = 0; i < 100; i++)
      waves.record(policy('team-a', `p-${i}`), shared, rotated(i < 90 ? 'Scheduled' : 'Renewal'));
    waves.record(policy('team-a', 'x'), shared, { ...rotated('Initial'), reason: 'Issued', action: 'Issue' });
    expect(out.seen.map((e) => e.name)).toEqual(['p-0', 'p-1', 'p-2']);

    await clock.advance(10_000);
    const aggregated = out.seen.slice(3);
    expect(aggregated).toEqual([
      expect.objectContaining({ kind: 'ClusterTokenIssuer', name: 'payments', reason: 'Rotated' }),
      expect.objectContaining({ kind: 'ClusterTokenIssuer', name: 'payments', reason: 'Issued' }),
    ]);
    expect(aggregated[0]?.note).toContain('97 more TokenPolicies');
    expect(aggregated[0]?.note).toContain('Scheduled ×87, Renewal ×10');
    expect(aggregated[1]?.note).toContain('1 more TokenPolicies');
    // No policy is named in an aggregate (another tenant may read the issuer's Events).
    for (const e of aggregated) expect(e.note).not.toMatch(/p-\d|team-a/);

    // A quiet window later, Events are per policy again.
    waves.record(policy('team-a', 'later'), shared, rotated('Scheduled'));
    expect(out.seen.at(-1)).toMatchObject({ kind: 'TokenPolicy', name: 'later' });
  });

  it('keeps a window per issuer: a namespaced issuer of one team is not held back by another', () => {
    const clock = new FakeClock();
    const out = sink();
    const waves = new WaveEvents(out, clock, { windowMs: 10_000, perWindow: 2 });
    const mine = { kind: 'TokenIssuer' as const, name: 'local' };
    for (let i = 0; i < 5; i++) waves.record(policy('team-a', `a-${i}`), mine, rotated('Scheduled'));
    for (let i = 0; i < 2; i++) waves.record(policy('team-b', `b-${i}`), mine, rotated('Scheduled'));
    expect(out.seen.map((e) => e.name)).toEqual(['a-0', 'a-1', 'b-0', 'b-1']);
    waves.stop(); // everything held is sent at shutdown, on team-a's issuer, in team-a's namespace
    expect(out.seen.at(-1)).toMatchObject({ kind: 'TokenIssuer', name: 'local', namespace: 'team-a' });
    expect(out.seen.at(-1)?.note).toContain('3 more TokenPolicies');
    expect(clock.pendingTimers).toBe(0);
  });
});
