import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/util/backoff.ts';

describe('backoffDelay', () => {
  it.each([
    { failures: 1, random: 0, expected: 500 },
    { failures: 2, random: 0, expected: 1000 },
    { failures: 10, random: 0, expected: 256_000 },
    { failures: 11, random: 0, expected: 300_000 }, // capped at 5 minutes
    { failures: 5000, random: 0, expected: 300_000 }, // no overflow
    { failures: 0, random: 0, expected: 500 }, // never below the base
    { failures: 1, random: 0.5, expected: 450 },
    { failures: 11, random: 0.999999, expected: 240_000 }, // jitter applies at the cap too
  ])('defaults: failure $failures, random $random → $expected ms', ({ failures, random, expected }) => {
    expect(backoffDelay(failures, {}, () => random)).toBe(expected);
  });

  it.each([
    {
      options: { baseMs: 1000, maxMs: 30_000, jitter: 0 },
      delays: [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
    },
    { options: { baseMs: 100, maxMs: 250, jitter: 0 }, delays: [100, 200, 250, 250, 250, 250, 250] },
  ])('grows by doubling to the cap: $options', ({ options, delays }) => {
    expect(delays.map((_, i) => backoffDelay(i + 1, options, () => 0.7))).toEqual(delays);
  });

  it('stays within ((1 - jitter)·d, d] for any random value', () => {
    for (let failures = 1; failures < 20; failures++) {
      const d = Math.min(300_000, 500 * 2 ** (failures - 1));
      for (const r of [0, 0.1, 0.25, 0.5, 0.75, 0.99, 0.999999]) {
        const delay = backoffDelay(failures, {}, () => r);
        expect(delay).toBeLessThanOrEqual(d);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(0.8 * d));
      }
    }
  });
});
