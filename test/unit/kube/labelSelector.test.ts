import { describe, expect, it } from 'vitest';
import { parseLabelSelector, type Labels } from '../../../src/kube/labelSelector.ts';

const managed = { 'app.kubernetes.io/managed-by': 'tokensmith', tier: 'gold', shard: '3' };

describe('parseLabelSelector', () => {
  it.each<{ selector: string; labels: Labels; matches: boolean }>([
    { selector: '', labels: undefined, matches: true },
    { selector: 'app.kubernetes.io/managed-by=tokensmith', labels: managed, matches: true },
    { selector: 'app.kubernetes.io/managed-by=tokensmith', labels: {}, matches: false },
    { selector: 'app.kubernetes.io/managed-by=tokensmith', labels: undefined, matches: false },
    {
      selector: 'app.kubernetes.io/managed-by==tokensmith',
      labels: { 'app.kubernetes.io/managed-by': 'helm' },
      matches: false,
    },
    { selector: 'tier!=gold', labels: managed, matches: false },
    { selector: 'tier!=gold', labels: {}, matches: true },
    { selector: 'tier', labels: managed, matches: true },
    { selector: '!tier', labels: managed, matches: false },
    { selector: '!tier', labels: {}, matches: true },
    { selector: 'tier in (silver, gold)', labels: managed, matches: true },
    { selector: 'tier in (silver)', labels: managed, matches: false },
    { selector: 'tier notin (silver)', labels: managed, matches: true },
    { selector: 'tier notin (gold,silver)', labels: managed, matches: false },
    { selector: 'shard>2', labels: managed, matches: true },
    { selector: 'shard<3', labels: managed, matches: false },
    { selector: 'tier=gold, tier in (gold,x),shard', labels: managed, matches: true },
    { selector: 'tier=gold,!shard', labels: managed, matches: false },
    { selector: 'empty=', labels: { empty: '' }, matches: true },
  ])('$selector on $labels → $matches', ({ selector, labels, matches }) => {
    expect(parseLabelSelector(selector)(labels)).toBe(matches);
  });

  it.each(['=x', 'a=b=c', 'a in b', 'a in (b', 'a,,b', 'a in ((b))', 'a > b', 'bad key=x'])(
    'refuses %j',
    (selector) => {
      expect(() => parseLabelSelector(selector)).toThrow(TypeError);
    },
  );
});
