import { describe, expect, it } from 'vitest';
import { admissionProblem, selectorMatches, type NamespaceAdmission } from '../../../src/core/admission.ts';

const admitted = (admission: NamespaceAdmission | undefined, labels?: Record<string, string>) =>
  admissionProblem({ issuerName: 'payments', admission, namespace: 'team-a', labels }) === undefined;

describe('namespace admission of a ClusterTokenIssuer', () => {
  it('admits no namespace when spec.namespaces is unset or empty, and says how to fix it', () => {
    expect(admitted(undefined, {})).toBe(false);
    expect(admitted({}, {})).toBe(false);
    expect(
      admissionProblem({ issuerName: 'payments', admission: undefined, namespace: 'team-a', labels: {} }),
    ).toBe(
      'ClusterTokenIssuer payments does not serve namespace team-a: it admits no namespace until the platform ' +
        'team sets spec.namespaces (names or a label selector)',
    );
  });

  it.each<[string, NamespaceAdmission, Record<string, string> | undefined, boolean]>([
    ['by name', { names: ['team-a'] }, {}, true],
    ['by name, before the namespace is cached', { names: ['team-a'] }, undefined, true],
    ['not another name', { names: ['team-ab', 'team'] }, {}, false],
    ['every namespace with {}', { selector: {} }, {}, true],
    ['not an unknown namespace by selector', { selector: {} }, undefined, false],
    ['by label', { selector: { matchLabels: { tier: 'prod' } } }, { tier: 'prod' }, true],
    ['not a different label value', { selector: { matchLabels: { tier: 'prod' } } }, { tier: 'dev' }, false],
    ['either names or selector', { names: ['team-a'], selector: { matchLabels: { x: 'y' } } }, {}, true],
  ])('admits %s: %s', (_what, admission, labels, expected) => {
    expect(admitted(admission, labels)).toBe(expected);
  });

  it.each<[string, string, string[] | undefined, Record<string, string>, boolean]>([
    ['In', 'In', ['a', 'b'], { k: 'b' }, true],
    ['In, absent', 'In', ['a'], {}, false],
    ['NotIn', 'NotIn', ['a'], { k: 'b' }, true],
    ['NotIn, absent', 'NotIn', ['a'], {}, true],
    ['NotIn, present', 'NotIn', ['a'], { k: 'a' }, false],
    ['Exists', 'Exists', undefined, { k: '' }, true],
    ['DoesNotExist', 'DoesNotExist', undefined, { k: 'x' }, false],
    ['an unknown operator', 'Like', ['a'], { k: 'a' }, false],
  ])('matchExpressions %s', (_what, operator, values, labels, expected) => {
    const selector = { matchExpressions: [{ key: 'k', operator, ...(values ? { values } : {}) }] };
    expect(selectorMatches(selector, labels)).toBe(expected);
  });
});
