/** The typed queue keys: each codec round-trips, names its request group, and the index maps issuers to policies. */
import { describe, expect, it } from 'vitest';
import type { TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import { IssuerRefIndex } from '../../../src/controllers/tokenPolicy/issuerIndex.ts';
import { issuerKeys, policyKeys, type IssuerKey } from '../../../src/manager/keys.ts';
import { Watch } from '../../../src/manager/watch.ts';

const policy = (
  namespace: string,
  name: string,
  issuerRef: TokenPolicy['spec']['issuerRef'],
): TokenPolicy => ({
  apiVersion: 'tokensmith.dev/v1alpha1',
  kind: 'TokenPolicy',
  metadata: { namespace, name },
  spec: { issuerRef, token: { type: 'opaque', ttl: '1h' }, secret: { name } },
});

describe('key codecs', () => {
  it.each<IssuerKey>([
    { kind: 'ClusterTokenIssuer', name: 'payments' },
    { kind: 'TokenIssuer', namespace: 'team-a', name: 'own' },
  ])('round-trip issuer key %o', (key) => {
    expect(issuerKeys.decode(issuerKeys.encode(key))).toEqual(key);
  });

  it('keep the string forms and groups the queues use', () => {
    expect(policyKeys.encode({ namespace: 'team-a', name: 'orders' })).toBe('team-a/orders');
    expect(policyKeys.decode('team-a/orders')).toEqual({ namespace: 'team-a', name: 'orders' });
    expect(policyKeys.group({ namespace: 'team-a', name: 'orders' })).toBe('team-a');
    expect(issuerKeys.encode({ kind: 'TokenIssuer', namespace: 'team-a', name: 'own' })).toBe(
      'TokenIssuer/team-a/own',
    );
    expect(issuerKeys.group({ kind: 'TokenIssuer', namespace: 'team-a', name: 'own' })).toBe('team-a');
    expect(issuerKeys.group({ kind: 'ClusterTokenIssuer', name: 'payments' })).toBe('');
  });
});

describe('IssuerRefIndex', () => {
  it('finds the dependents of an issuer, follows edits and deletions, and keeps kinds and namespaces apart', () => {
    const index = new IssuerRefIndex();
    const a = policy('team-a', 'orders', { name: 'payments' });
    const b = policy('team-b', 'orders', { name: 'payments' });
    const own = policy('team-a', 'local', { kind: 'TokenIssuer', name: 'payments' });
    for (const p of [a, b, own]) index.set(p);
    expect(index.dependents({ kind: 'ClusterTokenIssuer', name: 'payments' })).toEqual([
      { namespace: 'team-a', name: 'orders' },
      { namespace: 'team-b', name: 'orders' },
    ]);
    expect(index.dependents({ kind: 'TokenIssuer', namespace: 'team-a', name: 'payments' })).toEqual([
      { namespace: 'team-a', name: 'local' },
    ]);
    expect(index.dependents({ kind: 'TokenIssuer', namespace: 'team-b', name: 'payments' })).toEqual([]);
    index.set(policy('team-a', 'orders', { name: 'billing' })); // the policy moved to another issuer
    expect(index.dependents({ kind: 'ClusterTokenIssuer', name: 'payments' })).toEqual([
      { namespace: 'team-b', name: 'orders' },
    ]);
    index.delete(b);
    expect(index.dependents({ kind: 'ClusterTokenIssuer', name: 'payments' })).toEqual([]);
    expect(index.size).toBe(2);
  });
});

describe('Watch', () => {
  it('hands each event to every registered controller', () => {
    const watch = new Watch<string>();
    const seen: string[] = [];
    watch.add({ onChange: (o) => seen.push(`a:change:${o}`), onDelete: (o) => seen.push(`a:delete:${o}`) });
    watch.add({ onChange: (o) => seen.push(`b:change:${o}`), onResync: (o) => seen.push(`b:resync:${o}`) });
    watch.handlers.onChange('x');
    watch.handlers.onDelete('y');
    watch.handlers.onResync('z');
    expect(seen).toEqual(['a:change:x', 'b:change:x', 'a:delete:y', 'b:resync:z']);
  });
});
