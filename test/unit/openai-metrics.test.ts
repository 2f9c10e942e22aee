import { afterAll, describe, expect, it } from 'vitest';
import {
  createOpenAIBackend,
  diffServerMetrics,
  histogramQuantile,
  parsePrometheusText,
  snapshotFromSamples,
} from '../../src/backends/openai/index.js';
import { buildStream, startOpenAIEmulator, type OpenAIEmulator } from '../helpers/openai-emulator.js';

const LE = ['0.001', '0.01', '0.05', '0.1', '+Inf'];

/** vLLM-shaped exposition text; `cum` are cumulative bucket counts per LE. */
function histogram(name: string, model: string, cum: number[], sum: number): string {
  const lines = [`# HELP ${name} test histogram`, `# TYPE ${name} histogram`];
  LE.forEach((le, i) => lines.push(`${name}_bucket{engine="0",le="${le}",model_name="${model}"} ${cum[i]!.toFixed(1)}`));
  lines.push(`${name}_count{engine="0",model_name="${model}"} ${cum[cum.length - 1]!.toFixed(1)}`);
  lines.push(`${name}_sum{engine="0",model_name="${model}"} ${sum}`);
  return lines.join('\n');
}

function exposition(scale: number): string {
  return [
    '# HELP vllm:num_requests_running Number of requests in model execution batches.',
    '# TYPE vllm:num_requests_running gauge',
    'vllm:num_requests_running{engine="0",model_name="m"} 3.0',
    '# TYPE vllm:generation_tokens counter',
    `vllm:generation_tokens_total{engine="0",model_name="m"} ${100 * scale}.0`,
    `vllm:generation_tokens_created{engine="0",model_name="m"} 1.7e+09`,
    histogram('vllm:time_to_first_token_seconds', 'm', [0, 2, 6, 10, 10].map((c) => c * scale), 0.4 * scale),
    histogram('vllm:time_to_first_token_seconds', 'other', [5, 5, 5, 5, 5], 0.001),
    histogram('vllm:inter_token_latency_seconds', 'm', [1, 8, 10, 10, 10].map((c) => c * scale), 0.05 * scale),
    histogram('vllm:e2e_request_latency_seconds', 'm', [0, 0, 0, 4, 10].map((c) => c * scale), 3 * scale),
    'vllm:weird_label{path="a\\"b\\\\c\\nd"} 1',
    'this is not a sample',
  ].join('\n');
}

describe('Prometheus text parsing', () => {
  it('reads samples, labels with escapes, special values and types; collects bad lines', () => {
    const r = parsePrometheusText('# TYPE x counter\nx_total{a="q\\"uote"} +Inf\ny NaN\nz -1.5e3 1700000000\nbad{a=1} 2\n');
    expect(r.types).toEqual({ x: 'counter' });
    expect(r.samples[0]).toEqual({ name: 'x_total', labels: { a: 'q"uote' }, value: Infinity });
    expect(Number.isNaN(r.samples[1]!.value)).toBe(true);
    expect(r.samples[2]!.value).toBe(-1500);
    expect(r.invalid).toEqual([{ line: 5, text: 'bad{a=1} 2' }]);
  });

  it('parses a vLLM exposition and filters the model', () => {
    const parsed = parsePrometheusText(exposition(1));
    expect(parsed.samples.find((s) => s.name === 'vllm:weird_label')!.labels['path']).toBe('a"b\\c\nd');
    expect(parsed.invalid.length).toBe(1);
    const snap = snapshotFromSamples(parsed, { model: 'm', source: 'test' });
    expect(snap.model).toBe('m');
    const ttft = snap.histograms['vllm:time_to_first_token_seconds']!;
    expect(ttft.count).toBe(10); // the "other" model's 5 are excluded
    expect(ttft.buckets.map((b) => b.le)).toEqual([0.001, 0.01, 0.05, 0.1, Infinity]);
    expect(snap.counters).toEqual({ 'vllm:generation_tokens_total': 100 });
    // Several models on the page and none of them the run's: nothing is credited to it.
    const none = snapshotFromSamples(parsed, { model: 'not-served', source: 'test' });
    expect(none.model).toBeNull();
    expect(none.histograms).toEqual({});
    const all = snapshotFromSamples(parsed, { model: null, source: 'test' });
    expect(all.model).toBeNull();
    expect(all.histograms['vllm:time_to_first_token_seconds']!.count).toBe(15);
  });
});

describe('histogram quantiles and deltas', () => {
  it('interpolates inside buckets as histogram_quantile does', () => {
    const b = [
      { le: 0.01, count: 2 },
      { le: 0.05, count: 6 },
      { le: 0.1, count: 10 },
      { le: Infinity, count: 10 },
    ];
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.04);
    expect(histogramQuantile(0.99, b)).toBeCloseTo(0.09875);
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 3 }])).toBe(0.1);
    expect(histogramQuantile(0.5, [])).toBeNull();
  });

  it('diffs two snapshots into counts, means and percentiles in ms', () => {
    const before = snapshotFromSamples(parsePrometheusText(exposition(1)), { model: 'm', source: 's', takenNs: 0n });
    const after = snapshotFromSamples(parsePrometheusText(exposition(3)), { model: 'm', source: 's', takenNs: 2_000_000_000n });
    const d = diffServerMetrics(before, after);
    expect(d.windowMs).toBe(2000);
    expect(d.reset).toBe(false);
    expect(d.counters['vllm:generation_tokens_total']).toBe(200);
    expect(d.summary.ttft).toMatchObject({ metric: 'vllm:time_to_first_token_seconds', count: 20 });
    expect(d.summary.ttft!.meanMs).toBeCloseTo(40); // 0.8 s / 20
    expect(d.summary.ttft!.p50Ms).toBeCloseTo(40);
    expect(d.summary.itl!.metric).toBe('vllm:inter_token_latency_seconds');
    expect(d.summary.e2e!.p99Ms).toBeCloseTo(100); // beyond the last finite bound → 0.1 s
    expect(d.summary.tpot).toBeNull();
    const reset = diffServerMetrics(after, before);
    expect(reset.reset).toBe(true);
    expect(reset.unavailable).toMatch(/went backwards \(the server restarted\)/);
    expect(reset.summary.ttft).toBeNull();
  });
});

describe('scrapeMetrics over HTTP', () => {
  let emu: OpenAIEmulator;
  let scale = 1;
  afterAll(async () => emu?.close());

  it('scrapes before and after, and returns null when the server has no /metrics', async () => {
    emu = await startOpenAIEmulator({
      models: [{ id: 'm' }],
      respond: () => ({ steps: buildStream({ tokens: ['x'] }).steps }),
      metrics: () => exposition(scale),
    });
    const b = createOpenAIBackend({ endpoint: `${emu.url}/v1` });
    await b.open();
    const before = await b.scrapeMetrics();
    scale = 2;
    const after = await b.scrapeMetrics();
    expect(before).not.toBeNull();
    const d = diffServerMetrics(before!, after!);
    expect(d.summary.ttft!.count).toBe(10);
    expect(d.source).toBe(`${emu.url}/metrics`);
    await b.close();

    const bare = await startOpenAIEmulator({ respond: () => ({ steps: [] }) });
    const nb = createOpenAIBackend({ endpoint: bare.url });
    expect(await nb.scrapeMetrics()).toBeNull();
    await nb.close();
    await bare.close();
  });
});
