/** The pure part of the EventRecorder; recording itself is proved against a real API server. */
import { describe, expect, it } from 'vitest';
import { NOTE_LIMIT_BYTES, truncateBytes } from '../../../src/kube/events.ts';

const bytes = (text: string) => new TextEncoder().encode(text).length;

describe('truncateBytes', () => {
  it.each([
    {
      name: 'short ASCII is kept',
      text: 'rotated to version 7',
      limit: 1024,
      expected: 'rotated to version 7',
    },
    { name: 'exactly the limit is kept', text: 'x'.repeat(1024), limit: 1024, expected: 'x'.repeat(1024) },
    {
      name: 'one over is cut with a marker',
      text: 'x'.repeat(1025),
      limit: 1024,
      expected: `${'x'.repeat(1021)}…`,
    },
    { name: 'multi-byte characters are not split', text: 'é'.repeat(10), limit: 8, expected: 'éé…' },
    { name: 'astral characters are not split', text: '🔑'.repeat(5), limit: 10, expected: '🔑…' },
  ])('$name', ({ text, limit, expected }) => {
    const cut = truncateBytes(text, limit);
    expect(cut).toBe(expected);
    expect(bytes(cut)).toBeLessThanOrEqual(limit);
  });

  it('keeps any note within the API limit', () => {
    for (const text of ['a'.repeat(5000), 'ü'.repeat(5000), '漢'.repeat(5000), '👍'.repeat(5000)]) {
      const cut = truncateBytes(text, NOTE_LIMIT_BYTES);
      expect(bytes(cut)).toBeLessThanOrEqual(NOTE_LIMIT_BYTES);
      expect(bytes(cut)).toBeGreaterThan(NOTE_LIMIT_BYTES - 8);
      expect(cut.endsWith('…')).toBe(true);
    }
  });
});
