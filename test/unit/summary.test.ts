import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackendDescription, RequestRecord } from '../../src/backends/types.js';
import { createEnergyMonitor } from '../../src/energy/monitor.js';
import type { EnergyWindowResult } from '../../src/energy/types.js';
import type { LoadPlan } from '../../src/load/plan.js';
import { buildSummary, partialFailureMessage, type SummaryInput } from '../../src/runner/summary.js';

function rec(i: number, ok: boolean, ttft: number | null, total: number, prompt: number | null, completion: number | null): RequestRecord {
  return {
    index: i, success: ok, ...(ok ? {} : { error: 'HTTP 500' }), startNs: 0n, endNs: BigInt(total * 1e6), queueMs: 0,
    ttftMs: ttft, ttfoMs: ttft, ttstMs: null, e2eMs: ok ? total : null, tpotMs: ok ? 10 : null, itlMs: ok ? [10, 10] : [], iclMs: ok ? [10, 10] : [],
    promptTokens: prompt, completionTokens: completion, tokenCountSource: ok ? 'usage' : 'unknown', text: '',
  };
}

const energy: EnergyWindowResult = {
  label: 'measured', startNs: 0n, endNs: 2_000_000_000n, seconds: 2,
  figures: [
    { scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0', joules: 3600, dynamicJoules: 1800 },
    { scope: 'cpu-package', method: 'counter', status: 'ok', source: 'package-0', joules: 360 },
  ],
  gpuJoules: 3600, cpuJoules: 360,
};

it('averages over successful requests, sums tokens, derives energy figures per attempted request', () => {
  const s = buildSummary({
    records: [rec(0, true, 100, 1000, 10, 3), rec(1, true, 300, 3000, 20, 3), rec(2, false, null, 50, null, null), rec(3, true, null, 2000, 30, 4)],
    plannedPrompts: 4, warmupRequests: 1, durationSeconds: 2, stopReason: null, cancelledInFlight: 0, energy, idle: null,
    emissions: { grams: 0.5, intensityGPerKwh: 500 },
  });
  expect([s.total_prompts, s.successful_prompts, s.failed_prompts]).toEqual([4, 3, 1]);
  expect(s.avg_total_time).toBeCloseTo(2, 12); // (1 + 3 + 2) / 3 s, failed request excluded
  expect(s.avg_latency_seconds).toBe(s.avg_total_time);
  expect(s.avg_time_to_first_token).toBeCloseTo(0.2, 12); // TTFT unknown for one success: excluded, not 0
  expect(s.ttft_ms.count).toBe(2);
  expect([s.total_prompt_tokens, s.total_completion_tokens, s.total_tokens]).toEqual([60, 10, 70]);
  expect(s.throughput_tokens_per_second).toBe(35);
  expect(s.output_tokens_per_second).toBe(5);
  expect(s.requests_per_second).toBe(1.5);
  expect(s.gpu_energy_wh).toBe(1);
  expect(s.wh_per_1000_queries).toBe(250); // 1 Wh / 4 attempted requests × 1000
  expect(s.avg_energy_per_prompt_wh).toBe(0.25);
  expect(s.tokens_per_joule).toBeCloseTo(70 / 3600, 12);
  expect(s.energy.scope).toBe('gpu');
  expect(s.energy.gpu_dynamic_joules).toBe(1800);
  expect(s.co2_emissions_g).toBe(0.5);
  expect(s.failure_reasons).toEqual({ 'HTTP 500': 1 });
});

it('reports unknown token counts and missing energy as null, never 0', () => {
  const s = buildSummary({
    records: [rec(0, true, 5, 10, null, 3)], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 1,
    stopReason: null, cancelledInFlight: 0, energy: null, idle: null, emissions: null,
  });
  expect(s.total_prompt_tokens).toBeNull();
  expect(s.total_tokens).toBeNull();
  expect(s.throughput_tokens_per_second).toBeNull();
  expect(s.total_completion_tokens).toBe(3);
  expect(s.gpu_energy_wh).toBeNull();
  expect(s.wh_per_1000_queries).toBeNull();
  expect(s.energy.status).toBe('unavailable');
});

it('writes the old PARTIAL FAILURE wording with the >5% warning suffix', () => {
  expect(partialFailureMessage(0, 10)).toBeNull();
  expect(partialFailureMessage(1, 20)).toBe('PARTIAL FAILURE: 1/20 prompts failed (5.0%)');
  expect(partialFailureMessage(1, 10)).toMatch(/^PARTIAL FAILURE: 1\/10 prompts failed \(10\.0%\) - WARNING: failure rate exceeds 5%/);
});

it('never reports a partial GPU sum: one invalid GPU window makes the energy figures null, not understated', () => {
  const invalid: EnergyWindowResult = {
    ...energy,
    figures: [
      { scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0', joules: 3600, dynamicJoules: 1800 },
      { scope: 'gpu', method: 'counter', status: 'invalid', source: 'GPU 1', joules: null, dynamicJoules: null, reason: 'counter reset' },
      { scope: 'cpu-package', method: 'counter', status: 'ok', source: 'package-0', joules: 360 },
    ],
    gpuJoules: null,
  };
  const s = buildSummary({
    records: [rec(0, true, 5, 10, 1, 3)], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 1,
    stopReason: null, cancelledInFlight: 0, energy: invalid, idle: null, emissions: null,
  });
  expect(s.energy.status).toBe('invalid');
  expect(s.energy.scope).toBe('gpu'); // no silent fallback to the CPU figure
  expect(s.gpu_energy_wh).toBeNull();
  expect(s.energy.gpu_dynamic_joules).toBeNull();
  expect(s.wh_per_1000_queries).toBeNull();
  expect(s.tokens_per_joule).toBeNull();
  expect(s.energy.cpu_joules).toBe(360);
});

it('uses the CPU figure as primary only when no GPU sensor exists', () => {
  const cpuOnly: EnergyWindowResult = {
    ...energy,
    figures: [
      { scope: 'gpu', method: 'counter', status: 'unavailable', source: 'GPU', joules: null, reason: 'no NVML' },
      { scope: 'cpu-package', method: 'counter', status: 'ok', source: 'package-0', joules: 360 },
      { scope: 'dram', method: 'counter', status: 'ok', source: 'package-0/dram', joules: 36 },
    ],
    gpuJoules: null, cpuJoules: 396,
  };
  const s = buildSummary({
    records: [rec(0, true, 5, 10, 1, 3), rec(1, false, null, 10, null, null)], plannedPrompts: 2, warmupRequests: 0, durationSeconds: 1,
    stopReason: null, cancelledInFlight: 0, energy: cpuOnly, idle: null, emissions: null,
  });
  expect(s.energy.status).toBe('measured');
  expect(s.energy.scope).toBe('cpu-package+dram');
  expect(s.gpu_energy_wh).toBeNull();
  expect(s.avg_energy_per_prompt_wh).toBeCloseTo(396 / 3600 / 2, 12); // failed request in the denominator
  expect(s.tokens_per_joule).toBeCloseTo(4 / 396, 12);
});

it('prints the idle baseline before and after the run with its drift', async () => {
  const { formatSummary } = await import('../../src/cli/summary-text.js');
  const s = buildSummary({
    records: [rec(0, true, 5, 10, 1, 3)], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 1, stopReason: null, cancelledInFlight: 0,
    energy, idle: { seconds: 2, watts: { 'GPU 0': 50 } }, idleAfter: { seconds: 2, watts: { 'GPU 0': 45 } }, emissions: null,
  });
  expect(s.energy.idle_drift!['GPU 0']).toBeCloseTo(-0.1, 12);
  expect(formatSummary('run', s)).toContain('idle baseline (2.0 s): GPU 0 50.0 W → 45.0 W after (-10.0 %)');
});

describe('energy labels', () => {
  it('labels a run measured only by the CPU-time estimate "estimated", never "measured"', async () => {
    const noRapl = await mkdtemp(join(tmpdir(), 'aeb-norapl-'));
    let busyMs = 0;
    const monitor = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0, busyCpuMs: () => (busyMs += 400), env: {} });
    await monitor.startWindow('measured');
    const window = await monitor.stopWindow();
    await monitor.close();
    await rm(noRapl, { recursive: true });
    const s = buildSummary({
      records: [rec(0, true, 5, 10, 1, 3)], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 1,
      stopReason: null, cancelledInFlight: 0, energy: window, idle: null, emissions: null,
    });
    expect(s.energy).toMatchObject({ status: 'estimated', scope: 'estimated-cpu', method: 'estimated', primary_joules: 4 }); // 0.4 core-s × 10 W
    expect(s.tokens_per_joule).toBeCloseTo(4 / 4, 12); // a local run keeps its (estimated) efficiency
  });

  it('keeps "measured" for sensors and "invalid"/"unavailable" otherwise', () => {
    const summarise = (w: EnergyWindowResult | null) => buildSummary({
      records: [rec(0, true, 5, 10, 1, 3)], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 1,
      stopReason: null, cancelledInFlight: 0, energy: w, idle: null, emissions: null,
    }).energy.status;
    expect(summarise(energy)).toBe('measured');
    const invalidEstimate: EnergyWindowResult = { ...energy, gpuJoules: null, cpuJoules: null, figures: [
      { scope: 'estimated-cpu', method: 'estimated', status: 'invalid', source: 'cpu', joules: null },
    ] };
    expect(summarise(invalidEstimate)).toBe('invalid');
    expect(summarise(null)).toBe('unavailable');
  });
});

describe('energy of a server on another machine', () => {
  const records = [rec(0, true, 5, 10, 100, 60), rec(1, true, 5, 10, 100, 60)];
  const estimateOnly: EnergyWindowResult = {
    label: 'measured', startNs: 0n, endNs: 1_000_000_000n, seconds: 1, gpuJoules: null, cpuJoules: 0.6,
    figures: [
      { scope: 'gpu', method: 'counter', status: 'unavailable', source: 'GPU', joules: null, reason: 'no local GPU' },
      { scope: 'estimated-cpu', method: 'estimated', status: 'ok', source: 'system CPU time × 10 W/core', joules: 0.6 },
    ],
  };
  const server = (endpoint: string): BackendDescription => ({ backend: 'openai', model: 'm', details: { endpoint } });
  const summarise = (w: EnergyWindowResult, backend: BackendDescription | undefined) => buildSummary({
    records, plannedPrompts: 2, warmupRequests: 0, durationSeconds: 1, stopReason: null, cancelledInFlight: 0,
    energy: w, idle: null, emissions: { grams: 0.01, intensityGPerKwh: 60 }, ...(backend ? { backend } : {}),
  });

  it('derives no efficiency from the client machine\'s energy, and says why', () => {
    const s = summarise(estimateOnly, server('http://10.1.2.3:8000/v1'));
    expect([s.wh_per_1000_queries, s.avg_energy_per_prompt_wh, s.tokens_per_joule, s.output_tokens_per_joule, s.co2_emissions_g])
      .toEqual([null, null, null, null, null]);
    expect(s.emissions).toBeNull();
    expect(s.energy).toMatchObject({ covers_workload: false, primary_joules: null, status: 'estimated', cpu_joules: 0.6 });
    expect(s.energy.warnings).toHaveLength(1);
    expect(s.energy.warnings[0]).toMatch(/^energy figures \(estimated-cpu\) are this client machine's, not the server's at 10\.1\.2\.3:/);
    expect(summarise(estimateOnly, server('https://inference.example.com/v1')).energy.warnings[0]).toContain('server\'s at inference.example.com');
  });

  it('keeps the efficiency of a server on this machine (loopback, unspecified address, *.localhost) and of an in-process backend', () => {
    const local = summarise(estimateOnly, undefined);
    expect(local.tokens_per_joule).toBeCloseTo(320 / 0.6, 9);
    for (const endpoint of ['http://127.0.0.1:8000/v1', 'http://localhost:8000/v1', 'http://[::1]:8000/v1', 'http://127.8.9.10/v1', 'http://0.0.0.0:8000/v1', 'http://[::]:8000/v1', 'http://vllm.localhost:8000/v1']) {
      const s = summarise(estimateOnly, server(endpoint));
      expect(s.tokens_per_joule).toBe(local.tokens_per_joule);
      expect(s.co2_emissions_g).toBe(0.01);
      expect(s.energy).toMatchObject({ covers_workload: true });
      // Its GPUs were not named (device_ids): the CPU-only figures say so.
      expect(s.energy.warnings).toEqual([expect.stringMatching(/^the server at .* runs on this machine, but no GPU of it was metered \(backend\.device_ids not set\): .*figures \(estimated-cpu\) are the CPU's only/)]);
    }
    expect(local.energy.warnings).toEqual([]); // an in-process backend's CPU figures are the run's
    expect(summarise(estimateOnly, { backend: 'native', model: 'm', device: 'cpu' }).tokens_per_joule).toBe(local.tokens_per_joule);
    // This machine's GPUs (old configs name device_ids: [0]) say nothing about a remote server's.
    const gpuRun = summarise(energy, server('http://10.1.2.3:8000/v1'));
    expect(gpuRun.wh_per_1000_queries).toBeNull();
    expect(gpuRun.energy).toMatchObject({ covers_workload: false, scope: 'gpu' });
    expect(gpuRun.energy.warnings[0]).toMatch(/^energy figures \(gpu\) are this client machine's/);
    // The same GPUs behind a loopback server are the server's.
    const metered = summarise(energy, server('http://127.0.0.1:8000/v1'));
    expect(metered.wh_per_1000_queries).toBe(500);
    expect(metered.energy.warnings).toEqual([]);
  });
});

describe('energy labels of the summary', () => {
  const one = [rec(0, true, 5, 10, 1, 3)];
  const summarise = (w: EnergyWindowResult | null, extra: Partial<SummaryInput> = {}) => buildSummary({
    records: one, plannedPrompts: 1, warmupRequests: 0, durationSeconds: 1, stopReason: null, cancelledInFlight: 0,
    energy: w, idle: null, emissions: null, ...extra,
  });

  it('never presents the client machine\'s GPU energy as the run\'s (gpu_energy_wh), but keeps it in the energy section', () => {
    const remote = summarise(energy, { backend: { backend: 'openai', model: 'm', details: { endpoint: 'http://10.1.2.3:8000/v1' } } });
    expect(remote.gpu_energy_wh).toBeNull();
    expect(remote.energy).toMatchObject({ covers_workload: false, gpu_joules: 3600, gpu_dynamic_joules: 1800, cpu_joules: 360 });
    expect(remote.energy.warnings[0]).toContain('gpu_energy_wh, wh_per_1000_queries');
    expect(summarise(energy, { backend: { backend: 'openai', model: 'm', details: { endpoint: 'http://127.0.0.1:8000/v1' } } }).gpu_energy_wh).toBe(1);
  });

  it('says how the CPU total was obtained: rapl, estimated, or null without one', () => {
    expect(summarise(energy).energy.cpu_method).toBe('rapl');
    const gpuAndEstimate: EnergyWindowResult = { ...energy, cpuJoules: 36, figures: [
      energy.figures[0]!,
      { scope: 'cpu-package', method: 'counter', status: 'unavailable', source: 'RAPL', joules: null, reason: 'unavailable: root-only' },
      { scope: 'estimated-cpu', method: 'estimated', status: 'ok', source: 'system CPU time × 10 W/core', joules: 36 },
    ] };
    // The primary figure is the measured GPU one; the CPU one is an estimate and says so.
    expect(summarise(gpuAndEstimate).energy).toMatchObject({ status: 'measured', method: 'counter', cpu_joules: 36, cpu_method: 'estimated' });
    expect(summarise({ ...energy, cpuJoules: null, figures: [energy.figures[0]!] }).energy.cpu_method).toBeNull();
    expect(summarise(null).energy.cpu_method).toBeNull();
  });

  describe('ramp-down inside the energy window', () => {
    // Window 0–2 s; the last measured request was dispatched at `at` seconds.
    const ramp = (at: number, load: LoadPlan | undefined) =>
      summarise(energy, { lastDispatchNs: BigInt(at * 1e9), ...(load ? { load } : {}) }).energy;

    it('reports window end − last dispatch, and warns when several requests ran at once and it exceeds 10 % of the window', () => {
      const e = ramp(1.5, { mode: 'concurrency', concurrency: 4 });
      expect(e.ramp_down_seconds).toBe(0.5);
      expect(e.warnings).toEqual([
        "ramp-down: 25.0 % of the energy window (0.500 s of 2.000 s) came after the last measured request was dispatched, with fewer " +
          "requests in flight than the load's maximum (concurrency 4) while the last ones finished; the per-query energy figures " +
          '(wh_per_1000_queries, avg_energy_per_prompt_wh, tokens_per_joule, output_tokens_per_joule) include it',
      ]);
      expect(ramp(1, { mode: 'rate', rate: 5, arrival: 'poisson' }).warnings[0]).toMatch(/^ramp-down: 50\.0 % .*\(rate 5\/s poisson\)/);
      expect(ramp(1, { mode: 'rate', rate: 5, arrival: 'constant', maxConcurrency: 2 }).warnings).toHaveLength(1);
    });

    it('gives no warning one request at a time, at 10 % or less, without energy, or when the dispatch time is unknown', () => {
      expect(ramp(1, { mode: 'sequential' })).toMatchObject({ ramp_down_seconds: 1, warnings: [] });
      expect(ramp(1, { mode: 'concurrency', concurrency: 1 }).warnings).toEqual([]);
      expect(ramp(1, { mode: 'rate', rate: 5, arrival: 'constant', maxConcurrency: 1 }).warnings).toEqual([]);
      expect(ramp(1.8, { mode: 'concurrency', concurrency: 4 })).toMatchObject({ ramp_down_seconds: 0.2, warnings: [] });
      expect(summarise(energy).energy).toMatchObject({ ramp_down_seconds: null, warnings: [] });
      expect(ramp(2.5, { mode: 'concurrency', concurrency: 4 }).ramp_down_seconds).toBeNull(); // not inside the window
      const none = summarise({ ...energy, gpuJoules: null, cpuJoules: null, figures: [] }, { lastDispatchNs: 1_000_000_000n, load: { mode: 'concurrency', concurrency: 4 } });
      expect(none.energy).toMatchObject({ status: 'unavailable', ramp_down_seconds: 1, warnings: [] });
    });
  });
});
