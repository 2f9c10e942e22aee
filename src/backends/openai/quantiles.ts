// Small order statistics for calibration and benchmark summaries (not the runner's statistics).

export interface Quantiles {
  n: number;
  mean: number | null;
  min: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** Nearest-rank percentile over a sorted copy. */
export function quantiles(values: readonly number[]): Quantiles {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, mean: null, min: null, p50: null, p90: null, p99: null, max: null };
  const at = (q: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
  return {
    n: v.length,
    mean: v.reduce((a, b) => a + b, 0) / v.length,
    min: v[0]!,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: v[v.length - 1]!,
  };
}
