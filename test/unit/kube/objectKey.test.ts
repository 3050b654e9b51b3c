import { describe, expect, it } from 'vitest';
import { objectKey, splitObjectKey } from '../../../src/kube/objectKey.ts';

describe('object keys', () => {
  it.each([
    { metadata: { namespace: 'payments', name: 'orders-api' }, key: 'payments/orders-api' },
    { metadata: { name: 'payments' }, key: 'payments' },
    { metadata: { namespace: '', name: 'payments' }, key: 'payments' },
  ])('$key round-trips', ({ metadata, key }) => {
    expect(objectKey({ metadata })).toBe(key);
    expect(splitObjectKey(key)).toEqual({ namespace: metadata.namespace || undefined, name: metadata.name });
  });
});
