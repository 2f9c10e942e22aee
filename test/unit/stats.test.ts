import { describe as suite, expect, it } from 'vitest';
import { describe, percentileSorted } from '../../src/runner/stats.js';

suite('describe()', () => {
  it('computes mean/median/percentiles (linear interpolation)/min/max/population std', () => {
    const d = describe([4, 1, 3, 2, 5, null, undefined, Number.NaN]);
    expect(d.count).toBe(5);
    expect(d.mean).toBe(3);
    expect(d.median).toBe(3);
    expect(d.p90).toBeCloseTo(4.6, 12); // rank 3.6 between 4 and 5
    expect(d.p95).toBeCloseTo(4.8, 12);
    expect(d.p99).toBeCloseTo(4.96, 12);
    expect(d.min).toBe(1);
    expect(d.max).toBe(5);
    expect(d.std).toBeCloseTo(Math.sqrt(2), 12);
  });

  it('gives nulls (never zeros) for an empty sample', () => {
    const d = describe([]);
    expect(d).toEqual({ count: 0, mean: null, median: null, p90: null, p95: null, p99: null, min: null, max: null, std: null });
  });

  it('matches numpy-style percentiles on an even-sized sample', () => {
    expect(percentileSorted([10, 20, 30, 40], 50)).toBe(25);
    expect(percentileSorted([10, 20, 30, 40], 0)).toBe(10);
    expect(percentileSorted([10, 20, 30, 40], 100)).toBe(40);
    expect(() => percentileSorted([1], 101)).toThrow(/percentile/);
  });
});
