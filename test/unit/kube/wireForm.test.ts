import { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { toWireForm } from '../../../src/kube/wireForm.ts';

describe('toWireForm', () => {
  it('turns a typed list item into the JSON form a watch event has, with kind and apiVersion', () => {
    const typed = Object.assign(new V1Secret(), {
      metadata: { name: 's', namespace: 'ns', creationTimestamp: new Date('2026-01-01T00:00:00Z') },
      data: { TOKEN: 'c2VjcmV0' },
    });
    const wire = toWireForm(typed, 'v1', 'Secret');
    expect(Object.getPrototypeOf(wire)).toBe(Object.prototype);
    expect(wire).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'ns', creationTimestamp: '2026-01-01T00:00:00.000Z' },
      data: { TOKEN: 'c2VjcmV0' },
    });
  });

  it('keeps the kind and apiVersion an object already has', () => {
    const plain = { apiVersion: 'tokensmith.dev/v1alpha1', kind: 'TokenPolicy', metadata: { name: 'p' } };
    expect(toWireForm(plain, 'ignored/v1', 'Ignored')).toEqual(plain);
  });
});
