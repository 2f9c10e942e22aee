// Regression tests from the review of the vLLM /metrics before/after deltas. Each test pins a
// defect found in src/backends/openai/{prometheus,server-metrics}.ts; expectations follow
// Prometheus' histogram_quantile / increase() semantics and the text exposition format 0.0.4
// as prometheus_client (which vLLM uses) writes it.
import { describe, expect, it } from 'vitest';
import {
  diffServerMetrics,
  histogramQuantile,
  parsePrometheusText,
  snapshotFromSamples,
  type ServerMetricsSnapshot,
} from '../../src/backends/openai/index.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const TTFT = 'vllm:time_to_first_token_seconds';

interface Series {
  labels: Record<string, string>;
  /** Cumulative counts for each `le` in the page's bucket list (last one is +Inf). */
  cum: number[];
  sum: number;
  /** Leave out `_count` / `_sum` lines. */
  noCount?: boolean;
  noSum?: boolean;
  /** prometheus_client's `<name>_created` gauge value, when the page carries one. */
  created?: number;
}

const labelText = (l: Record<string, string>): string =>
  Object.entries(l)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');

/** One histogram family as prometheus_client writes it (0.0.4 text). */
function histogram(name: string, les: string[], series: Series[]): string[] {
  const out = [`# HELP ${name} Histogram of time to first token in seconds.`, `# TYPE ${name} histogram`];
  for (const s of series) {
    les.forEach((le, i) => out.push(`${name}_bucket{${labelText({ ...s.labels, le })}} ${s.cum[i]!.toFixed(1)}`));
    if (!s.noCount) out.push(`${name}_count{${labelText(s.labels)}} ${s.cum[s.cum.length - 1]!.toFixed(1)}`);
    if (!s.noSum) out.push(`${name}_sum{${labelText(s.labels)}} ${s.sum}`);
  }
  const created = series.filter((s) => s.created !== undefined);
  if (created.length > 0) {
    out.push(`# HELP ${name}_created Histogram of time to first token in seconds.`, `# TYPE ${name}_created gauge`);
    for (const s of created) out.push(`${name}_created{${labelText(s.labels)}} ${s.created}`);
  }
  return out;
}

function page(parts: { processStart?: number; ttft: Series[]; les?: string[]; generated?: number }): string {
  const lines: string[] = [];
  if (parts.processStart !== undefined)
    lines.push(
      '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.',
      '# TYPE process_start_time_seconds gauge',
      `process_start_time_seconds ${parts.processStart}`,
    );
  if (parts.generated !== undefined)
    lines.push(
      '# HELP vllm:generation_tokens_total Number of generation tokens processed.',
      '# TYPE vllm:generation_tokens_total counter',
      `vllm:generation_tokens_total{engine="0",model_name="${MODEL}"} ${parts.generated.toFixed(1)}`,
    );
  lines.push(...histogram(TTFT, parts.les ?? ['0.01', '0.05', '0.1', '0.5', '+Inf'], parts.ttft));
  return lines.join('\n') + '\n';
}

const snap = (text: string, model: string | null, takenNs: bigint): ServerMetricsSnapshot =>
  snapshotFromSamples(parsePrometheusText(text), { model, source: 'review', takenNs });

const engine = (id: string, model = MODEL): Record<string, string> => ({ engine: id, model_name: model });

describe('histogram_quantile edge cases (Prometheus returns NaN; a number here is invented)', () => {
  it('a histogram with only the +Inf bucket has no quantile estimate', () => {
    // Prometheus bucketQuantile: fewer than two buckets → NaN. The code reports 0 s.
    expect(histogramQuantile(0.5, [{ le: Infinity, count: 5 }])).toBeNull();
  });

  it('a histogram without a +Inf bucket has no quantile estimate', () => {
    // "The highest bucket must have an upper bound of +Inf. (Otherwise, NaN is returned.)"
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 2 }, { le: 1, count: 4 }])).toBeNull();
  });

  it('the summary of an only-+Inf histogram delta reports no p50/p99 rather than 0 ms', () => {
    const one = (n: number): string => page({ les: ['+Inf'], ttft: [{ labels: engine('0'), cum: [n], sum: n * 0.2 }] });
    const d = diffServerMetrics(snap(one(2), MODEL, 0n), snap(one(7), MODEL, 1n));
    expect(d.summary.ttft!.count).toBe(5);
    expect(d.summary.ttft!.meanMs).toBeCloseTo(200);
    expect(d.summary.ttft!.p50Ms).toBeNull();
    expect(d.summary.ttft!.p99Ms).toBeNull();
  });
});

describe('restarts that do not make any counter go backwards', () => {
  it('flags a restart seen in process_start_time_seconds and _created even when every count grew', () => {
    // Old process: 10 requests. New process (restarted an hour later): 15 requests, all
    // buckets above the old ones. The true count over the window is unknowable.
    const before = page({ processStart: 1.7e9, generated: 1000, ttft: [{ labels: engine('0'), cum: [1, 4, 8, 10, 10], sum: 0.6, created: 1.7e9 + 5 }] });
    const after = page({ processStart: 1.7e9 + 3600, generated: 1500, ttft: [{ labels: engine('0'), cum: [2, 6, 12, 15, 15], sum: 0.9, created: 1.7e9 + 3605 }] });
    const d = diffServerMetrics(snap(before, MODEL, 0n), snap(after, MODEL, 1n));
    expect(d.reset).toBe(true); // code: false, and reports 5 requests
  });

  it('flags a bucket layout change between scrapes (only a different server process can do that)', () => {
    // Multiprocess mode (several API servers) exposes neither process_* nor _created series.
    const before = page({ les: ['0.01', '0.1', '+Inf'], ttft: [{ labels: engine('0'), cum: [1, 8, 10], sum: 0.5 }] });
    const after = page({ les: ['0.005', '0.01', '0.05', '0.1', '+Inf'], ttft: [{ labels: engine('0'), cum: [9, 12, 20, 25, 30], sum: 0.9 }] });
    const d = diffServerMetrics(snap(before, MODEL, 0n), snap(after, MODEL, 1n));
    // The code diffs le=0.005 and 0.05 against 0 (cumulative 9, 11, 20, 17, 20: not monotonic).
    expect(d.reset).toBe(true);
  });

  it('detects a reset of one engine that the other engine’s growth hides in the sum', () => {
    // Engine 1 restarted (8 → 3 requests); engine 0 grew 10 → 30. Summing first gives 18 → 33,
    // a delta of 15; Prometheus' per-series increase() gives 20 + 3 = 23.
    const before = page({ ttft: [
      { labels: engine('0'), cum: [1, 5, 8, 10, 10], sum: 0.5 },
      { labels: engine('1'), cum: [1, 4, 6, 8, 8], sum: 0.4 },
    ] });
    const after = page({ ttft: [
      { labels: engine('0'), cum: [3, 15, 24, 30, 30], sum: 1.5 },
      { labels: engine('1'), cum: [0, 1, 2, 3, 3], sum: 0.15 },
    ] });
    const d = diffServerMetrics(snap(before, MODEL, 0n), snap(after, MODEL, 1n));
    expect(d.reset || d.summary.ttft!.count === 23).toBe(true);
  });
});

describe('choosing the model’s series', () => {
  it('does not diff a snapshot summed over other models against one filtered to the model', () => {
    // Before: the model has no series yet (only "other"); after: the model served 4 requests.
    const other = { labels: engine('0', 'other'), cum: [0, 1, 2, 2, 2], sum: 0.1 };
    const before = page({ ttft: [other] });
    const after = page({ ttft: [other, { labels: engine('0'), cum: [1, 2, 3, 4, 4], sum: 0.2 }] });
    const d = diffServerMetrics(snap(before, MODEL, 0n), snap(after, MODEL, 1n));
    // The code subtracts "other"'s 2 from the model's 4 and reports 2, no reset.
    expect(d.reset || d.summary.ttft!.count === 4).toBe(true);
  });

  it('does not attribute other models’ latencies to a model absent from a multi-model page', () => {
    // e.g. the run's model id is an alias or LoRA adapter that vLLM labels under another name,
    // behind a gateway whose /metrics merges two servers.
    const t = (a: number[], b: number[]): string =>
      page({ ttft: [
        { labels: engine('0', 'model-a'), cum: a, sum: a[4]! * 0.01 },
        { labels: engine('0', 'model-b'), cum: b, sum: b[4]! * 0.2 },
      ] });
    const d = diffServerMetrics(snap(t([1, 2, 2, 2, 2], [0, 1, 3, 4, 4]), 'model-c', 0n), snap(t([3, 5, 5, 5, 5], [0, 2, 6, 8, 8]), 'model-c', 1n));
    // The code sums both models: 7 requests, mean ≈ 119 ms, reported as model-c’s.
    expect(d.summary.ttft?.count ?? 0).toBe(0);
  });
});

describe('histograms missing _sum or _count', () => {
  it('reports no mean (not 0 ms) when _sum is absent', () => {
    const t = (cum: number[]): string => page({ ttft: [{ labels: engine('0'), cum, sum: 0, noSum: true }] });
    const d = diffServerMetrics(snap(t([0, 1, 2, 3, 3]), MODEL, 0n), snap(t([1, 3, 6, 9, 9]), MODEL, 1n));
    expect(d.summary.ttft!.count).toBe(6);
    expect(d.summary.ttft!.meanMs).toBeNull(); // code: 0
  });

  it('takes the count from the +Inf bucket when _count is absent', () => {
    const t = (cum: number[], sum: number): string => page({ ttft: [{ labels: engine('0'), cum, sum, noCount: true }] });
    const d = diffServerMetrics(snap(t([0, 1, 2, 3, 3], 0.1), MODEL, 0n), snap(t([1, 3, 6, 9, 9], 0.4), MODEL, 1n));
    expect(d.summary.ttft!.count).toBe(6); // code: 0, and p50/p99 null
    expect(d.summary.ttft!.meanMs).toBeCloseTo(50);
    expect(d.summary.ttft!.p50Ms).toBeCloseTo(75); // delta buckets 1,2,4,6,6: rank 3 in (0.05, 0.1] → 0.05 + 0.05·(3−2)/(4−2)
  });
});
