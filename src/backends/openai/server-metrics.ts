// Server-side latency histograms (vLLM's Prometheus /metrics), scraped before and after a
// run; the difference is what the server saw during the run. Pure.
//
// Deltas follow Prometheus' increase() per series (labels other than `le`), summed afterwards:
// summing first would let one engine's growth hide another's restart. A window is invalid
// (no figures, a reason instead) when the server restarted between the scrapes — a counter
// went backwards, process_start_time_seconds or a *_created time changed, or a histogram's
// bucket layout changed — or when the page labels several models and none is the run's.

import type { PromParseResult, PromSample } from './prometheus.js';

export interface HistogramData {
  /** Cumulative bucket counts by upper bound, ascending (last is +Inf when exposed). */
  buckets: { le: number; count: number }[];
  /** `_count`, else the +Inf bucket; null when the page has neither. */
  count: number | null;
  /** `_sum`; null when the page leaves it out. */
  sum: number | null;
}

/** One series of a family: its model_name label (undefined when it has none). */
interface Series<T> {
  model: string | undefined;
  data: T;
}

export interface ServerMetricsSnapshot {
  source: string;
  takenNs: bigint;
  /** The run's model, as asked for. */
  requestedModel: string | null;
  /** The model_name whose series this page alone would be read for (null: every series). */
  model: string | null;
  /** Distinct model_name label values on the page. */
  models: string[];
  /** The chosen series summed, per family (what this page alone says; deltas use the series). */
  histograms: Record<string, HistogramData>;
  counters: Record<string, number>;
  /** Every series, by family and then by its labels other than `le`. */
  histogramSeries: Record<string, Record<string, Series<HistogramData>>>;
  counterSeries: Record<string, Record<string, Series<number>>>;
  /** process_start_time_seconds and *_created values, by series: a change is a restart. */
  startTimes: Record<string, number>;
}

export interface HistogramDelta {
  count: number | null;
  /** In the metric's unit (seconds for vLLM latencies); null when the page has no `_sum`. */
  sum: number | null;
  mean: number | null;
  /** Bucket-interpolated estimates (Prometheus histogram_quantile rules). */
  p50: number | null;
  p99: number | null;
}

export interface LatencySummary {
  metric: string;
  count: number | null;
  meanMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface ServerMetricsDelta {
  source: string;
  windowMs: number;
  /** The window cannot be read (see `unavailable`); kept for readers of older reports. */
  reset: boolean;
  /** Why there are no figures for the window, or null. */
  unavailable: string | null;
  /** The model whose series were read (null: every series). */
  model: string | null;
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

/** A series' identity: its labels other than `le`, in name order. */
function seriesKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .filter((k) => k !== 'le')
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

type ModelChoice = { model: string | null } | { none: string };

/**
 * Whose series to read: the run's model when the page labels it; the page's only model when
 * it labels one under another name (vLLM labels the first served name; LoRA requests count
 * under their base model); every series when the page has no model labels (or no model was
 * asked for); none when the page labels several models and none is the run's.
 */
function chooseModel(models: readonly string[], requested: string | null): ModelChoice {
  if (requested === null || models.length === 0) return { model: null };
  if (models.includes(requested)) return { model: requested };
  if (models.length === 1) return { model: models[0]! };
  return { none: `the server's /metrics labels models ${models.join(', ')}; none is ${requested}` };
}

/** Series of no model belong to every choice (process-wide series); labelled ones only to theirs. */
const chosen = (seriesModel: string | undefined, model: string | null) => model === null || seriesModel === undefined || seriesModel === model;

const HISTOGRAM_PARTS = ['_bucket', '_sum', '_count'] as const;

export function snapshotFromSamples(
  parsed: PromParseResult,
  opts: { model: string | null; source: string; takenNs?: bigint },
): ServerMetricsSnapshot {
  const histogramNames = new Set(Object.keys(parsed.types).filter((k) => parsed.types[k] === 'histogram'));
  for (const s of parsed.samples) if (s.name.endsWith('_bucket') && 'le' in s.labels) histogramNames.add(s.name.slice(0, -7));

  const partial = new Map<string, Map<string, { model: string | undefined; byLe: Map<number, number>; count: number | null; sum: number | null }>>();
  const counterSeries: Record<string, Record<string, Series<number>>> = {};
  const startTimes: Record<string, number> = {};
  const models = new Set<string>();
  for (const s of parsed.samples) {
    const model = s.labels['model_name'];
    if (model !== undefined) models.add(model);
    if (s.name === 'process_start_time_seconds' || s.name.endsWith('_created')) {
      if (Number.isFinite(s.value)) startTimes[`${s.name}{${seriesKey(s.labels)}}`] = s.value;
      continue;
    }
    const part = histogramPart(s, histogramNames);
    if (part === null) {
      const family = s.name.endsWith('_total') ? s.name.slice(0, -6) : s.name;
      const type = parsed.types[s.name] ?? parsed.types[family];
      if (type === 'counter' && Number.isFinite(s.value)) (counterSeries[s.name] ??= {})[seriesKey(s.labels)] = { model, data: s.value };
      continue;
    }
    const family = partial.get(part.base) ?? new Map();
    partial.set(part.base, family);
    const key = seriesKey(s.labels);
    const series = family.get(key) ?? { model, byLe: new Map<number, number>(), count: null, sum: null };
    family.set(key, series);
    if (part.part === 'sum') series.sum = s.value;
    else if (part.part === 'count') series.count = s.value;
    else {
      const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
      if (!Number.isNaN(le)) series.byLe.set(le, s.value);
    }
  }
  const histogramSeries: Record<string, Record<string, Series<HistogramData>>> = {};
  for (const [base, family] of partial) {
    const out: Record<string, Series<HistogramData>> = (histogramSeries[base] = {});
    for (const [key, s] of family) {
      const buckets = [...s.byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
      out[key] = { model: s.model, data: { buckets, count: s.count ?? s.byLe.get(Infinity) ?? null, sum: s.sum } };
    }
  }

  const modelList = [...models].sort();
  const choice = chooseModel(modelList, opts.model);
  const pageModel = 'model' in choice ? choice.model : null;
  const histograms: Record<string, HistogramData> = {};
  const counters: Record<string, number> = {};
  if ('model' in choice) {
    for (const [name, family] of Object.entries(histogramSeries)) {
      const picked = Object.values(family).filter((s) => chosen(s.model, pageModel)).map((s) => s.data);
      if (picked.length > 0) histograms[name] = sumHistograms(picked);
    }
    for (const [name, family] of Object.entries(counterSeries)) {
      const picked = Object.values(family).filter((s) => chosen(s.model, pageModel));
      if (picked.length > 0) counters[name] = picked.reduce((a, s) => a + s.data, 0);
    }
  }
  return {
    source: opts.source,
    takenNs: opts.takenNs ?? process.hrtime.bigint(),
    requestedModel: opts.model,
    model: pageModel,
    models: modelList,
    histograms,
    counters,
    histogramSeries,
    counterSeries,
    startTimes,
  };
}

function histogramPart(s: PromSample, histogramNames: ReadonlySet<string>): { base: string; part: 'bucket' | 'sum' | 'count' } | null {
  for (const suffix of HISTOGRAM_PARTS) {
    if (s.name.endsWith(suffix) && histogramNames.has(s.name.slice(0, -suffix.length))) {
      return { base: s.name.slice(0, -suffix.length), part: suffix.slice(1) as 'bucket' | 'sum' | 'count' };
    }
  }
  return null;
}

const sameLayout = (a: HistogramData, b: HistogramData) => a.buckets.length === b.buckets.length && a.buckets.every((x, i) => x.le === b.buckets[i]!.le);
const addNullable = (a: number | null, b: number | null) => (a === null || b === null ? null : a + b);

/** Series summed; buckets only when every series has the same layout (else none: no quantiles). */
function sumHistograms(parts: readonly HistogramData[]): HistogramData {
  const first = parts[0]!;
  const layoutsAgree = parts.every((p) => sameLayout(p, first));
  return {
    buckets: layoutsAgree ? first.buckets.map((b, i) => ({ le: b.le, count: parts.reduce((a, p) => a + p.buckets[i]!.count, 0) })) : [],
    count: parts.reduce<number | null>((a, p) => addNullable(a, p.count), 0),
    sum: parts.reduce<number | null>((a, p) => addNullable(a, p.sum), 0),
  };
}

/**
 * Quantile from cumulative buckets, interpolating linearly inside the bucket, with Prometheus'
 * histogram_quantile rules: null (its NaN) unless there are at least two buckets and the last
 * is +Inf; a rank in the +Inf bucket gives the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number | null {
  if (buckets.length < 2 || buckets[buckets.length - 1]!.le !== Infinity) return null;
  const total = buckets[buckets.length - 1]!.count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      if (b.count === prevCount) return b.le;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** One series' increase over the window, or why it has none. */
function seriesDelta(name: string, before: HistogramData | undefined, after: HistogramData): HistogramData | string {
  if (before === undefined) return after; // a series that appeared during the window starts from 0
  if (!sameLayout(before, after)) return `the bucket layout of ${name} changed between the scrapes (a different server process)`;
  const delta: HistogramData = {
    buckets: after.buckets.map((b, i) => ({ le: b.le, count: b.count - before.buckets[i]!.count })),
    count: after.count === null || before.count === null ? null : after.count - before.count,
    sum: after.sum === null || before.sum === null ? null : after.sum - before.sum,
  };
  if ((delta.count !== null && delta.count < 0) || delta.buckets.some((b) => b.count < 0)) return `${name} went backwards (the server restarted)`;
  return delta;
}

function toDelta(h: HistogramData): HistogramDelta {
  const n = h.count;
  const has = n !== null && n > 0;
  return {
    count: n,
    sum: h.sum,
    mean: has && h.sum !== null ? h.sum / n : null,
    p50: has ? histogramQuantile(0.5, h.buckets) : null,
    p99: has ? histogramQuantile(0.99, h.buckets) : null,
  };
}

/** The first reason the window cannot be read, else the deltas. */
function windowDeltas(
  before: ServerMetricsSnapshot,
  after: ServerMetricsSnapshot,
  model: string | null,
): { histograms: Record<string, HistogramDelta>; counters: Record<string, number> } | string {
  for (const [key, value] of Object.entries(after.startTimes)) {
    const was = before.startTimes[key];
    if (was !== undefined && was !== value) return `the server restarted between the scrapes (${key} changed)`;
  }
  const histograms: Record<string, HistogramDelta> = {};
  for (const [name, family] of Object.entries(after.histogramSeries)) {
    const parts: HistogramData[] = [];
    for (const [key, s] of Object.entries(family)) {
      if (!chosen(s.model, model)) continue;
      const d = seriesDelta(name, before.histogramSeries[name]?.[key]?.data, s.data);
      if (typeof d === 'string') return d;
      parts.push(d);
    }
    if (parts.length > 0) histograms[name] = toDelta(sumHistograms(parts));
  }
  const counters: Record<string, number> = {};
  for (const [name, family] of Object.entries(after.counterSeries)) {
    let total: number | null = null;
    for (const [key, s] of Object.entries(family)) {
      if (!chosen(s.model, model)) continue;
      const d = s.data - (before.counterSeries[name]?.[key]?.data ?? 0);
      if (d < 0) return `${name} went backwards (the server restarted)`;
      total = (total ?? 0) + d;
    }
    if (total !== null) counters[name] = total;
  }
  return { histograms, counters };
}

export function diffServerMetrics(before: ServerMetricsSnapshot, after: ServerMetricsSnapshot): ServerMetricsDelta {
  // Both scrapes are read for the model the later page names: before the run the model may
  // have had no series yet.
  const choice = chooseModel(after.models, after.requestedModel);
  const model = 'model' in choice ? choice.model : null;
  const deltas = 'none' in choice ? choice.none : windowDeltas(before, after, model);
  const unavailable = typeof deltas === 'string' ? deltas : null;
  const histograms = typeof deltas === 'string' ? {} : deltas.histograms;
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
    reset: unavailable !== null,
    unavailable,
    model,
    histograms,
    counters: typeof deltas === 'string' ? {} : deltas.counters,
    summary: {
      ttft: pick(VLLM_LATENCY_METRICS.ttft),
      itl: pick(VLLM_LATENCY_METRICS.itl),
      tpot: pick(VLLM_LATENCY_METRICS.tpot),
      e2e: pick(VLLM_LATENCY_METRICS.e2e),
      queue: pick(VLLM_LATENCY_METRICS.queue),
    },
  };
}
