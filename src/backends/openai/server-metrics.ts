// Server-side latency histograms (vLLM's Prometheus /metrics), scraped before and after a
// run; the difference is what the server saw during the run. Pure.

import type { PromParseResult } from './prometheus.js';

export interface HistogramData {
  /** Cumulative bucket counts by upper bound, ascending (last is +Inf when exposed). */
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

export interface ServerMetricsSnapshot {
  source: string;
  takenNs: bigint;
  /** Label filter applied (model_name), or null when all series were summed. */
  model: string | null;
  histograms: Record<string, HistogramData>;
  counters: Record<string, number>;
}

export interface HistogramDelta {
  count: number;
  /** In the metric's unit (seconds for vLLM latencies). */
  sum: number;
  mean: number | null;
  /** Bucket-interpolated estimates (Prometheus histogram_quantile rules). */
  p50: number | null;
  p99: number | null;
}

export interface LatencySummary {
  metric: string;
  count: number;
  meanMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface ServerMetricsDelta {
  source: string;
  windowMs: number;
  /** A counter went backwards (server restarted): the window is invalid. */
  reset: boolean;
  histograms: Record<string, HistogramDelta>;
  counters: Record<string, number>;
  /** vLLM's standard latency histograms, in ms, beside the client's figures. */
  summary: {
    ttft: LatencySummary | null;
    itl: LatencySummary | null;
    tpot: LatencySummary | null;
    e2e: LatencySummary | null;
    queue: LatencySummary | null;
  };
}

/** Candidate metric names per figure, newest vLLM name first. */
export const VLLM_LATENCY_METRICS = {
  ttft: ['vllm:time_to_first_token_seconds'],
  itl: ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds'],
  tpot: ['vllm:request_time_per_output_token_seconds'],
  e2e: ['vllm:e2e_request_latency_seconds'],
  queue: ['vllm:request_queue_time_seconds'],
} as const;

export function snapshotFromSamples(
  parsed: PromParseResult,
  opts: { model: string | null; source: string; takenNs?: bigint },
): ServerMetricsSnapshot {
  // Filter to the model's series when the server labels them with it.
  const hasModelLabel = opts.model !== null && parsed.samples.some((s) => s.labels['model_name'] === opts.model);
  const samples = hasModelLabel ? parsed.samples.filter((s) => s.labels['model_name'] === opts.model) : parsed.samples;

  const histogramNames = new Set(Object.keys(parsed.types).filter((k) => parsed.types[k] === 'histogram'));
  for (const s of samples) if (s.name.endsWith('_bucket') && 'le' in s.labels) histogramNames.add(s.name.slice(0, -7));

  // Series of one family are summed across their other labels.
  const histograms: Record<string, HistogramData> = {};
  const bucketSums = new Map<string, Map<number, number>>();
  const counters: Record<string, number> = {};
  for (const s of samples) {
    let base: string | null = null;
    let part: 'bucket' | 'sum' | 'count' | null = null;
    for (const suffix of ['_bucket', '_sum', '_count'] as const) {
      if (s.name.endsWith(suffix) && histogramNames.has(s.name.slice(0, -suffix.length))) {
        base = s.name.slice(0, -suffix.length);
        part = suffix.slice(1) as 'bucket' | 'sum' | 'count';
        break;
      }
    }
    if (base === null || part === null) {
      const family = s.name.endsWith('_total') ? s.name.slice(0, -6) : s.name;
      const type = parsed.types[s.name] ?? parsed.types[family];
      if (type === 'counter' && Number.isFinite(s.value)) counters[s.name] = (counters[s.name] ?? 0) + s.value;
      continue;
    }
    const h = (histograms[base] ??= { buckets: [], count: 0, sum: 0 });
    if (part === 'sum') h.sum += s.value;
    else if (part === 'count') h.count += s.value;
    else {
      const le = Number(s.labels['le'] === '+Inf' ? Infinity : s.labels['le']);
      if (Number.isNaN(le)) continue;
      const byLe = bucketSums.get(base) ?? new Map<number, number>();
      bucketSums.set(base, byLe);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    }
  }
  for (const [base, byLe] of bucketSums) {
    histograms[base]!.buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
  }
  return {
    source: opts.source,
    takenNs: opts.takenNs ?? process.hrtime.bigint(),
    model: hasModelLabel ? opts.model : null,
    histograms,
    counters,
  };
}

/** Quantile from cumulative buckets, interpolating linearly inside the bucket (as histogram_quantile). */
export function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number | null {
  if (buckets.length === 0) return null;
  const total = buckets[buckets.length - 1]!.count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // highest finite bound: the best estimate available
      if (b.count === prevCount) return b.le;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function diffHistogram(before: HistogramData | undefined, after: HistogramData): { delta: HistogramDelta; reset: boolean } {
  const count = after.count - (before?.count ?? 0);
  const sum = after.sum - (before?.sum ?? 0);
  const prior = new Map((before?.buckets ?? []).map((b) => [b.le, b.count]));
  const buckets = after.buckets.map((b) => ({ le: b.le, count: b.count - (prior.get(b.le) ?? 0) }));
  const reset = count < 0 || buckets.some((b) => b.count < 0);
  if (reset) return { delta: { count, sum, mean: null, p50: null, p99: null }, reset };
  return {
    delta: {
      count,
      sum,
      mean: count > 0 ? sum / count : null,
      p50: count > 0 ? histogramQuantile(0.5, buckets) : null,
      p99: count > 0 ? histogramQuantile(0.99, buckets) : null,
    },
    reset,
  };
}

export function diffServerMetrics(before: ServerMetricsSnapshot, after: ServerMetricsSnapshot): ServerMetricsDelta {
  let reset = false;
  const histograms: Record<string, HistogramDelta> = {};
  for (const [name, h] of Object.entries(after.histograms)) {
    const d = diffHistogram(before.histograms[name], h);
    reset ||= d.reset;
    histograms[name] = d.delta;
  }
  const counters: Record<string, number> = {};
  for (const [name, v] of Object.entries(after.counters)) {
    counters[name] = v - (before.counters[name] ?? 0);
    if (counters[name]! < 0) reset = true;
  }
  const pick = (names: readonly string[]): LatencySummary | null => {
    for (const metric of names) {
      const d = histograms[metric];
      if (d === undefined) continue;
      const ms = (v: number | null): number | null => (v === null ? null : v * 1000);
      return { metric, count: d.count, meanMs: ms(d.mean), p50Ms: ms(d.p50), p99Ms: ms(d.p99) };
    }
    return null;
  };
  return {
    source: after.source,
    windowMs: Number(after.takenNs - before.takenNs) / 1e6,
    reset,
    histograms,
    counters,
    summary: {
      ttft: pick(VLLM_LATENCY_METRICS.ttft),
      itl: pick(VLLM_LATENCY_METRICS.itl),
      tpot: pick(VLLM_LATENCY_METRICS.tpot),
      e2e: pick(VLLM_LATENCY_METRICS.e2e),
      queue: pick(VLLM_LATENCY_METRICS.queue),
    },
  };
}
