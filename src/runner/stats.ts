// Descriptive statistics over per-request values. Percentiles interpolate linearly between
// closest ranks (numpy's default); std is the population standard deviation. An empty
// sample yields nulls, never zeros.

export interface Distribution {
  count: number;
  mean: number | null;
  median: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  min: number | null;
  max: number | null;
  std: number | null;
}

/** p in [0, 100] of an ascending-sorted array. */
export function percentileSorted(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within [0, 100], got ${p}`);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

export function describe(values: Iterable<number | null | undefined>): Distribution {
  const xs: number[] = [];
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) xs.push(v);
  xs.sort((a, b) => a - b);
  const m = mean(xs);
  let std: number | null = null;
  if (m !== null) {
    let ss = 0;
    for (const v of xs) ss += (v - m) * (v - m);
    std = Math.sqrt(ss / xs.length);
  }
  return {
    count: xs.length,
    mean: m,
    median: percentileSorted(xs, 50),
    p90: percentileSorted(xs, 90),
    p95: percentileSorted(xs, 95),
    p99: percentileSorted(xs, 99),
    min: xs.length ? xs[0]! : null,
    max: xs.length ? xs[xs.length - 1]! : null,
    std,
  };
}
