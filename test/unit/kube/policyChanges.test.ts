/**
 * How urgent a policy event is for the work queue (kube/policyChanges.ts): a revoke request or a
 * replayed refresh token is urgent, what a person asked for is user, other changes are routine,
 * and an update of status.usage alone is no change at all.
 */
import { describe, expect, it } from 'vitest';
import type { TokenPolicy } from '../../../src/api/v1alpha1.generated.ts';
import { PolicyChanges } from '../../../src/kube/policyChanges.ts';

const base: TokenPolicy = {
  apiVersion: 'tokensmith.dev/v1alpha1',
  kind: 'TokenPolicy',
  metadata: { namespace: 'team', name: 'orders', uid: 'u1', generation: 1, annotations: {} },
  spec: { issuerRef: { name: 'payments' }, token: { type: 'opaque', ttl: '1h' }, secret: { name: 's' } },
  status: { currentVersion: 1 },
};
type Meta = NonNullable<TokenPolicy['metadata']>;
const edit = (p: TokenPolicy, metadata: Partial<Meta>): TokenPolicy => ({
  ...p,
  metadata: Object.assign<Meta, Meta | undefined, Partial<Meta>>({}, p.metadata, metadata),
});
const annotated = (p: TokenPolicy, annotations: Record<string, string>) =>
  edit(p, { annotations: { ...p.metadata?.annotations, ...annotations } });

describe('PolicyChanges', () => {
  it('ranks each change by who is waiting for it', () => {
    const changes = new PolicyChanges();
    expect(changes.change(base)).toBe('user'); // first seen: a new policy
    expect(changes.change(base)).toBe('none');
    const revoked = annotated(base, { 'tokensmith.dev/revoke': 'current' });
    expect(changes.change(revoked)).toBe('urgent');
    const rotated = annotated(revoked, { 'tokensmith.dev/rotate': '1' });
    expect(changes.change(rotated)).toBe('user');
    const replayed = annotated(rotated, { 'tokensmith.dev/grant-revoked': '2@now' });
    expect(changes.change(replayed)).toBe('urgent');
    const specEdit = edit(replayed, { generation: 2 });
    expect(changes.change(specEdit)).toBe('user');
    const labelled = edit(specEdit, { labels: { team: 'a' } });
    expect(changes.change(labelled)).toBe('routine');
    const deleting = edit(labelled, { deletionTimestamp: new Date() });
    expect(changes.change(deleting)).toBe('user');
  });

  it('sees no change in an update of status.usage alone', () => {
    const changes = new PolicyChanges();
    changes.change(base);
    const used: TokenPolicy = {
      ...base,
      status: {
        currentVersion: 1,
        usage: [{ version: 1, replica: 'r', lastPresentedAt: 'now', presentations: 3 }],
      },
    };
    expect(changes.change(used)).toBe('none');
    expect(changes.changed(used)).toBe(false);
  });
});
