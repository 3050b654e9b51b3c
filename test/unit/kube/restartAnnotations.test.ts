import { describe, expect, it } from 'vitest';
import {
  alreadyRestarted,
  restartPatch,
  rolloutNote,
  TOKEN_ANNOTATION_PREFIX,
  tokenAnnotationKey,
} from '../../../src/kube/restartAnnotations.ts';

/** What kube-apiserver accepts as an annotation key with a prefix (validation.IsQualifiedName). */
function isValidAnnotationKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = key.slice(0, slash);
  const name = key.slice(slash + 1);
  return (
    prefix.length <= 253 &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(prefix) &&
    name.length <= 63 &&
    /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(name)
  );
}

describe('tokenAnnotationKey', () => {
  it.each([
    ['orders-api', 'token.tokensmith.dev/orders-api'],
    ['a', 'token.tokensmith.dev/a'],
    ['v1.orders', 'token.tokensmith.dev/v1.orders'],
    ['x'.repeat(63), `token.tokensmith.dev/${'x'.repeat(63)}`],
  ])('uses a policy name the CRD allows as it is: %s', (name, key) => {
    expect(tokenAnnotationKey(name)).toBe(key);
    expect(isValidAnnotationKey(key)).toBe(true);
  });

  it.each([
    ['too long', 'p'.repeat(64)],
    ['far too long', `${'a'.repeat(60)}.${'b'.repeat(100)}`],
    ['separator at the cut', `${'a'.repeat(51)}-${'b'.repeat(20)}`],
    ['characters an annotation refuses', 'Orders API/v2'],
    ['only separators', '---'],
    ['empty', ''],
  ])('turns a name that cannot be a key (%s) into a valid, stable, hashed key', (_what, name) => {
    const key = tokenAnnotationKey(name);
    expect(key.startsWith(TOKEN_ANNOTATION_PREFIX)).toBe(true);
    expect(isValidAnnotationKey(key)).toBe(true);
    expect(key).toMatch(/[0-9a-f]{10}$/);
    expect(tokenAnnotationKey(name)).toBe(key);
  });

  it('keeps policies that share a long prefix apart', () => {
    const a = tokenAnnotationKey(`${'p'.repeat(70)}-a`);
    const b = tokenAnnotationKey(`${'p'.repeat(70)}-b`);
    expect(a).not.toBe(b);
  });
});

describe('alreadyRestarted', () => {
  const key = tokenAnnotationKey('orders-api');
  it.each([
    [undefined, false],
    [{}, false],
    [{ [key]: 'sha256:old' }, false],
    [{ [tokenAnnotationKey('other')]: 'sha256:new' }, false],
    [{ [key]: 'sha256:new' }, true],
  ])('%j → %s', (annotations, expected) => {
    expect(alreadyRestarted(annotations, key, 'sha256:new')).toBe(expected);
  });
});

describe('restartPatch', () => {
  it('sets the policy annotation and restartedAt on the pod template, with the resourceVersion as precondition', () => {
    expect(
      restartPatch({
        key: 'token.tokensmith.dev/orders-api',
        fingerprint: 'sha256:1f2e',
        restartedAt: new Date('2026-03-01T12:00:00Z'),
        resourceVersion: '42',
      }),
    ).toEqual({
      metadata: { resourceVersion: '42' },
      spec: {
        template: {
          metadata: {
            annotations: {
              'token.tokensmith.dev/orders-api': 'sha256:1f2e',
              'tokensmith.dev/restartedAt': '2026-03-01T12:00:00.000Z',
            },
          },
        },
      },
    });
  });

  it('has no precondition without a resourceVersion', () => {
    const patch = restartPatch({
      key: 'k',
      fingerprint: 'f',
      restartedAt: new Date(0),
      resourceVersion: undefined,
    });
    expect(patch).toMatchObject({ metadata: {} });
  });
});

describe('rolloutNote', () => {
  it.each([
    [{ kind: 'Deployment', spec: {} }, undefined],
    [{ kind: 'Deployment', spec: { paused: false } }, undefined],
    [{ kind: 'Deployment', spec: { paused: true } }, /paused/],
    [{ kind: 'StatefulSet', spec: { updateStrategy: { type: 'RollingUpdate' } } }, undefined],
    [{ kind: 'StatefulSet', spec: { updateStrategy: { type: 'OnDelete' } } }, /StatefulSet.*OnDelete/],
    [{ kind: 'DaemonSet', spec: { updateStrategy: { type: 'OnDelete' } } }, /DaemonSet.*OnDelete/],
    [{ kind: 'DaemonSet' }, undefined],
  ])('%j', (workload, expected) => {
    const note = rolloutNote(workload);
    if (expected === undefined) expect(note).toBeUndefined();
    else expect(note).toMatch(expected);
  });
});
