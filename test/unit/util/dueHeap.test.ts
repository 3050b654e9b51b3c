import { describe, expect, it } from 'vitest';
import { DueHeap } from '../../../src/util/dueHeap.ts';

function drain(heap: DueHeap): string[] {
  const keys: string[] = [];
  for (let e = heap.pop(); e; e = heap.pop()) keys.push(e.key);
  return keys;
}

describe('DueHeap', () => {
  it('pops in due order, ties in insertion order', () => {
    const heap = new DueHeap();
    [
      ['c', 30],
      ['a', 10],
      ['b', 20],
      ['a2', 10],
      ['d', 5],
    ].forEach(([key, due]) => {
      heap.set(String(key), Number(due));
    });
    expect(drain(heap)).toEqual(['d', 'a', 'a2', 'b', 'c']);
  });

  it('holds one entry per key and moves it earlier or later', () => {
    const heap = new DueHeap();
    heap.set('a', 10);
    heap.set('b', 20);
    heap.set('c', 30);
    heap.set('c', 1);
    heap.set('a', 40);
    expect(heap.size).toBe(3);
    expect(heap.dueAt('a')).toBe(40);
    expect(heap.peek()).toEqual({ key: 'c', dueAt: 1 });
    expect(drain(heap)).toEqual(['c', 'b', 'a']);
  });

  it('deletes from anywhere and stays ordered (randomised against a sort)', () => {
    const heap = new DueHeap();
    const expected = new Map<string, number>();
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 16807) % 2147483647) % n;
    for (let i = 0; i < 3000; i++) {
      const key = `k${rand(500)}`;
      if (rand(4) === 0) {
        expect(heap.delete(key)).toBe(expected.delete(key));
      } else {
        const due = rand(1000);
        heap.set(key, due);
        expected.set(key, due);
      }
    }
    expect(heap.size).toBe(expected.size);
    const popped: number[] = [];
    for (let e = heap.pop(); e; e = heap.pop()) {
      expect(expected.get(e.key)).toBe(e.dueAt);
      popped.push(e.dueAt);
    }
    expect(popped).toEqual([...expected.values()].sort((a, b) => a - b));
    expect(heap.has('k1')).toBe(false);
  });

  it('clears', () => {
    const heap = new DueHeap();
    heap.set('a', 1);
    heap.clear();
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
    heap.set('a', 2);
    expect(heap.peek()).toEqual({ key: 'a', dueAt: 2 });
  });
});
