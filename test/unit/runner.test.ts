import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PromptInput, RequestRecord } from '../../src/backends/types.js';
import type { EnergyMonitor, EnergyWindowResult } from '../../src/energy/types.js';
import type { LoadPlan } from '../../src/load/plan.js';
import { createEnergyMonitor } from '../../src/energy/monitor.js';
import { AUTO_IDLE_SECONDS, runBenchmark, RunSetupError } from '../../src/runner/runner.js';
import { runErrorMessage } from '../../src/results/master-csv.js';
import { promptsOf, scriptedBackend } from '../helpers/scripted-backend.js';

const settings = { maxNewTokens: 8, minNewTokens: 0, temperature: 0 };

/** A RAPL root with no domains: the monitors below measure the GPU fake or estimate the CPU. */
const noRapl = mkdtempSync(join(tmpdir(), 'aeb-norapl-'));
afterAll(() => rmSync(noRapl, { recursive: true, force: true }));

it('a backend that throws on every third request: run completes with right counts and PARTIAL FAILURE', async () => {
  const backend = scriptedBackend({ script: (_p, call) => (call % 3 === 2 ? { throws: 'boom' } : { completionTokens: 5 }) });
  const seen: RequestRecord[] = [];
  const r = await runBenchmark({ backend, prompts: promptsOf(12), settings, maxConsecutiveFailures: 3, onRecord: (x) => { seen.push(x); } });
  expect(r.summary.total_prompts).toBe(12);
  expect(r.summary.successful_prompts).toBe(8);
  expect(r.summary.failed_prompts).toBe(4);
  expect(r.summary.total_completion_tokens).toBe(40);
  expect(r.summary.stop_reason).toBeNull();
  expect(r.summary.failure_reasons).toEqual({ 'backend threw: boom': 4 });
  expect(runErrorMessage(r.summary)).toBe('PARTIAL FAILURE: 4/12 prompts failed (33.3%) - WARNING: failure rate exceeds 5%, results may not be representative');
  expect(seen).toHaveLength(12);
  expect(backend.opened && backend.closed).toBe(true);
});

it('warmup prompts share no prefix with the measured ones (a prefix-caching server would serve those from cache)', async () => {
  const seen: PromptInput[] = [];
  const backend = scriptedBackend({ script: (p) => (seen.push(p), {}) });
  const prompts: PromptInput[] = [
    { index: 0, text: 'first', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'first' }] },
    { index: 1, text: 'second' },
    { index: 2, text: '', promptIds: [5, 6, 7] },
  ];
  await runBenchmark({ backend, prompts, settings, warmupRequests: 3 });
  const [w0, w1, w2, ...measured] = seen;
  expect(w0).toMatchObject({ text: '[warmup 1] first', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: '[warmup 1] first' }] });
  expect(w1!.text).toBe('[warmup 2] second');
  expect(w2!.promptIds).toEqual([5, 6, 7]); // token ids are sent as they are
  expect(measured).toEqual(prompts);
});

it('warmup requests are recorded but excluded from the statistics', async () => {
  const backend = scriptedBackend({ script: (_p, call) => ({ completionTokens: call < 2 ? 100 : 3 }) });
  const r = await runBenchmark({ backend, prompts: promptsOf(5), settings, warmupRequests: 2 });
  expect(r.records.filter((x) => x.warmup)).toHaveLength(2);
  expect(r.summary.total_prompts).toBe(5);
  expect(r.summary.warmup_requests).toBe(2);
  expect(r.summary.total_completion_tokens).toBe(15);
  expect(backend.calls).toBe(7);
});

it('stops after N consecutive failures but keeps everything finished', async () => {
  const backend = scriptedBackend({ script: (_p, call) => (call >= 4 ? { fail: 'HTTP 503' } : {}) });
  const r = await runBenchmark({ backend, prompts: promptsOf(50), settings, maxConsecutiveFailures: 3 });
  expect(r.summary.total_prompts).toBe(7);
  expect(r.summary.successful_prompts).toBe(4);
  expect(r.summary.failed_prompts).toBe(3);
  expect(r.summary.stop_reason).toMatch(/^consecutive_failures: 3 requests failed in a row \(last error: HTTP 503\)/);
  expect(runErrorMessage(r.summary)).toContain('STOPPED EARLY');
  expect(r.summary.planned_prompts).toBe(50);
});

it('an interrupt cancels in-flight requests (even on a backend that ignores the signal), keeps finished ones and records the cut one as failed', async () => {
  const backend = scriptedBackend({ ignoreAbort: true, script: (_p, call) => ({ delayMs: call < 3 ? 5 : 10_000 }) });
  const ac = new AbortController();
  const finished: RequestRecord[] = [];
  const t0 = Date.now();
  const p = runBenchmark({
    backend, prompts: promptsOf(10), settings, load: { mode: 'concurrency', concurrency: 1 }, signal: ac.signal, interruptGraceMs: 200,
    onRecord: (x) => { finished.push(x); if (finished.length === 3) setTimeout(() => ac.abort(), 20); },
  });
  const r = await p;
  expect(Date.now() - t0).toBeLessThan(2000);
  expect(r.interrupted).toBe(true);
  expect(r.summary.stop_reason).toBe('interrupted');
  // The fourth request was in flight: its time and energy are in the window, so it counts (failed).
  expect(r.summary.total_prompts).toBe(4);
  expect(r.summary.successful_prompts).toBe(3);
  expect(r.summary.failure_reasons).toEqual({ 'cancelled by interrupt': 1 });
  expect(r.summary.cancelled_in_flight).toBe(1);
  expect(finished.map((x) => x.index)).toEqual([0, 1, 2, 3]);
});

it('runs the energy window around the measured phase only, with the idle baseline first', async () => {
  const calls: string[] = [];
  const window: EnergyWindowResult = {
    label: 'measured', startNs: 0n, endNs: 1n, seconds: 1, gpuJoules: 7200, cpuJoules: null,
    figures: [{ scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0', joules: 7200 }],
  };
  const backend = scriptedBackend();
  const monitor: EnergyMonitor = {
    measureIdle: async (s) => { calls.push(`idle ${s} after ${backend.calls} calls`); return { seconds: s, watts: { 'GPU 0': 50 } }; },
    startWindow: async () => { calls.push(`start after ${backend.calls} calls`); },
    stopWindow: async () => { calls.push(`stop after ${backend.calls} calls`); return window; },
    timeline: () => [],
    close: async () => undefined,
  };
  const r = await runBenchmark({
    backend, prompts: promptsOf(4), settings, warmupRequests: 1, energy: monitor, idleSeconds: 2,
    emissions: (j) => ({ grams: j / 3.6e6 * 400, intensityGPerKwh: 400 }),
  });
  expect(calls).toEqual(['idle 2 after 0 calls', 'start after 1 calls', 'stop after 5 calls']);
  expect(r.summary.gpu_energy_wh).toBe(2);
  expect(r.summary.wh_per_1000_queries).toBe(500);
  expect(r.summary.co2_emissions_g).toBeCloseTo(0.8, 12);
  expect(r.summary.energy.idle_baseline).toEqual({ seconds: 2, watts: { 'GPU 0': 50 } });
});

it('an interrupt during the idle baseline ends it at once: no request runs, no warmup is counted', async () => {
  const energy = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0, busyCpuMs: () => 0, env: {} });
  const backend = scriptedBackend();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const t0 = Date.now();
  try {
    const r = await runBenchmark({ backend, prompts: promptsOf(3), settings, warmupRequests: 2, energy, idleSeconds: 30, signal: ac.signal });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.interrupted).toBe(true);
    expect(backend.calls).toBe(0);
    expect(r.summary.warmup_requests).toBe(0);
    expect(r.summary.energy.idle_baseline).toBeNull();
  } finally {
    await energy.close();
  }
});

it('measures the idle baseline again after the run and reports the drift; auto length follows the sensors', async () => {
  const calls: string[] = [];
  const window: EnergyWindowResult = {
    label: 'measured', startNs: 0n, endNs: 1n, seconds: 1, gpuJoules: 100, cpuJoules: null,
    figures: [{ scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0', joules: 100 }],
  };
  const monitorWith = (measures: boolean): EnergyMonitor => {
    let idleCalls = 0;
    const backendCalls = () => calls.filter((c) => c === 'generate').length;
    return {
      measuresEnergy: async () => measures,
      measureIdle: async (sec) => {
        calls.push(`idle ${sec} after ${backendCalls()}`);
        return { seconds: sec, watts: { 'GPU 0': idleCalls++ === 0 ? 50 : 60 } };
      },
      startWindow: async () => undefined,
      stopWindow: async () => window,
      timeline: () => [],
      close: async () => undefined,
    };
  };
  const backend = scriptedBackend();
  const generate = backend.generate.bind(backend);
  backend.generate = (...a: Parameters<typeof generate>) => {
    calls.push('generate');
    return generate(...a);
  };
  const r = await runBenchmark({ backend, prompts: promptsOf(3), settings, warmupRequests: 0, energy: monitorWith(true), idleSeconds: 'auto', idleAfter: true });
  expect(calls.filter((c) => c.startsWith('idle'))).toEqual([`idle ${AUTO_IDLE_SECONDS} after 0`, `idle ${AUTO_IDLE_SECONDS} after 3`]);
  expect(r.summary.energy.idle_baseline?.watts).toEqual({ 'GPU 0': 50 });
  expect(r.summary.energy.idle_baseline_after?.watts).toEqual({ 'GPU 0': 60 });
  expect(r.summary.energy.idle_drift!['GPU 0']).toBeCloseTo(0.2, 12);

  calls.length = 0;
  const estimateOnly = await runBenchmark({ backend, prompts: promptsOf(2), settings, warmupRequests: 0, energy: monitorWith(false), idleSeconds: 'auto', idleAfter: true });
  expect(calls.filter((c) => c.startsWith('idle'))).toEqual([]); // an estimate-only idle figure means nothing
  expect(estimateOnly.summary.energy.idle_baseline).toBeNull();
  expect(estimateOnly.summary.energy.idle_drift).toBeNull();
});

it('adds the load driver queue time to each record and measures duration from first dispatch', async () => {
  const backend = scriptedBackend({ script: () => ({ delayMs: 30 }) });
  const r = await runBenchmark({ backend, prompts: promptsOf(4), settings, load: { mode: 'rate', rate: 1000, arrival: 'constant', maxConcurrency: 1 } });
  const q = r.records.map((x) => x.queueMs);
  expect(q[0]!).toBeLessThan(10);
  expect(q[3]!).toBeGreaterThan(60);
  expect(r.summary.total_duration_seconds).toBeGreaterThan(0.11);
  expect(r.summary.queue_ms.max).toBe(Math.max(...q));
});

it('refuses to start without prompts and reports a backend that cannot open', async () => {
  await expect(runBenchmark({ backend: scriptedBackend(), prompts: [], settings })).rejects.toThrow(/no prompts/);
  const bad = scriptedBackend({ openError: 'connection refused 127.0.0.1:9' });
  await expect(runBenchmark({ backend: bad, prompts: promptsOf(1), settings })).rejects.toSatisfy(
    (e: unknown) => e instanceof RunSetupError && /failed to open: connection refused/.test((e as Error).message),
  );
});

it("the backend's own warnings from open() become the run's warnings", async () => {
  const inner = scriptedBackend();
  const backend = { ...inner, open: async () => ({ ...(await inner.open()), warnings: ['HTTP_PROXY is set, but requests go directly'] }) };
  const r = await runBenchmark({ backend, prompts: promptsOf(1), settings });
  expect(r.warnings).toContain('HTTP_PROXY is set, but requests go directly');
});

it('a check of the opened backend fails the run with its own message, and closes the backend', async () => {
  let closed = 0;
  const inner = scriptedBackend();
  const backend = { ...inner, close: async () => { closed++; await inner.close(); } };
  const checkOpened = () => { throw new Error('max_new_tokens 8192 does not fit the model\'s context of 2048 positions'); };
  const error = await runBenchmark({ backend, prompts: promptsOf(1), settings, checkOpened }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RunSetupError);
  expect((error as Error).message).toBe("max_new_tokens 8192 does not fit the model's context of 2048 positions");
  expect(closed).toBe(1);
});

it('after an interrupt, energy stop and backend close share one grace budget (the CLI exit deadline must leave time to write)', async () => {
  const hang = () => new Promise<never>(() => undefined);
  const inner = scriptedBackend({ script: () => ({ delayMs: 10_000 }) });
  const backend = { ...inner, close: hang };
  const window: EnergyWindowResult = { label: 'measured', startNs: 0n, endNs: 1n, seconds: 1, gpuJoules: null, cpuJoules: null, figures: [] };
  const monitor: EnergyMonitor = {
    measureIdle: async () => null, startWindow: async () => undefined, stopWindow: () => hang().then(() => window),
    timeline: () => [], close: async () => undefined,
  };
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  let abortedAt = 0;
  ac.signal.addEventListener('abort', () => { abortedAt = Date.now(); });
  const r = await runBenchmark({ backend, prompts: promptsOf(3), settings, energy: monitor, signal: ac.signal, interruptGraceMs: 500 });
  const cleanupMs = Date.now() - abortedAt;
  expect(r.interrupted).toBe(true);
  expect(r.energyWindow).toBeNull();
  expect(cleanupMs).toBeGreaterThanOrEqual(450);
  expect(cleanupMs).toBeLessThan(900); // two separate 500 ms waits would take ≥ 1000 ms
});

it('closes the backend it was handed even when the options are rejected', async () => {
  const backend = scriptedBackend();
  await expect(runBenchmark({ backend, prompts: promptsOf(2), settings, warmupRequests: -1 })).rejects.toThrow(/warmup requests/);
  expect(backend.closed).toBe(true);
});

it('energy read on the client says nothing about a server on another machine: no efficiency, a warning', async () => {
  const run = async (endpoint: string) => {
    const b = scriptedBackend({ kind: 'openai' });
    const backend = { ...b, open: async () => ({ backend: 'openai', model: 'm', details: { endpoint } }) };
    let busy = 0;
    const energy = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0, busyCpuMs: () => (busy += 100), env: {} });
    try {
      return await runBenchmark({ backend, prompts: promptsOf(2), settings, warmupRequests: 0, energy, idleSeconds: 0, emissions: async (j) => ({ grams: j }) });
    } finally {
      await energy.close();
    }
  };
  const remote = await run('http://10.9.8.7:8000/v1');
  expect([remote.summary.tokens_per_joule, remote.summary.wh_per_1000_queries, remote.summary.co2_emissions_g]).toEqual([null, null, null]);
  expect(remote.summary.energy.status).toBe('estimated');
  expect(remote.warnings.join('\n')).toMatch(/client machine's, not the server's at 10\.9\.8\.7/);
  const local = await run('http://127.0.0.1:8000/v1');
  expect(local.summary.tokens_per_joule).not.toBeNull();
  expect(local.summary.co2_emissions_g).toBe(1); // 0.1 core-s × 10 W
  // A server on this machine whose GPUs were not named: the CPU-only figures say so.
  expect(local.warnings).toEqual([expect.stringMatching(/^the server at http:\/\/127\.0\.0\.1:8000\/v1 runs on this machine, but no GPU of it was metered/)]);
});

it('warns when more than 1 % of the first-token stamps may be late by over 5 ms because the client was busy', async () => {
  const run = async (slacks: number[]) => {
    const b = scriptedBackend({ kind: 'openai' });
    let i = 0;
    const backend = { ...b, generate: async (...args: Parameters<typeof b.generate>) => ({ ...(await b.generate(...args)), ttftSlackMs: slacks[i++ % slacks.length]! }) };
    return runBenchmark({ backend, prompts: promptsOf(4), settings, warmupRequests: 0, idleSeconds: 0 });
  };
  const busy = await run([0.2, 7.5, 0.1, 0.3]);
  expect(busy.summary.ttft_slack_over_5ms).toBe(1);
  expect(busy.summary.ttft_slack_ms.max).toBe(7.5);
  expect(busy.warnings.join('\n')).toMatch(/^1 of 4 first-token stamps may be late by more than 5 ms because this client was busy/m);
  const calm = await run([0.2, 4.9, 1.1, 0.3]);
  expect(calm.summary.ttft_slack_over_5ms).toBe(0);
  expect(calm.warnings).toEqual([]);
});

it('many requests in flight on the one cancel signal raise no listener-leak warning', async () => {
  const seen: string[] = [];
  const onWarning = (w: Error) => seen.push(w.name);
  process.on('warning', onWarning);
  try {
    const b = scriptedBackend({ kind: 'openai' });
    // Like the HTTP backend: each request listens to the signal it was given while in flight.
    const backend = {
      ...b,
      generate: async (...args: Parameters<typeof b.generate>) => {
        const onAbort = (): void => {};
        args[2]?.addEventListener('abort', onAbort);
        try {
          return await b.generate(...args);
        } finally {
          args[2]?.removeEventListener('abort', onAbort);
        }
      },
    };
    const r = await runBenchmark({ backend, prompts: promptsOf(32), settings, warmupRequests: 0, idleSeconds: 0, load: { mode: 'concurrency', concurrency: 16 } });
    expect(r.summary.successful_prompts).toBe(32);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    expect(seen).not.toContain('MaxListenersExceededWarning');
  } finally {
    process.off('warning', onWarning);
  }
});

it('labels the ramp-down inside the energy window: its length, and a warning when several requests ran at once', async () => {
  const { memoryNvml } = await import('../fixtures/fake-nvml/harness.js');
  const run = async (load: LoadPlan, prompts: number) => {
    const backend = scriptedBackend({ script: () => ({ delayMs: 80 }) });
    const nvml = memoryNvml([{ name: 'NVIDIA H200', busId: '00000000:19:00.0', uuid: 'GPU-0', series: { energyMj: [0, 50_000] } }]);
    const energy = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, busyCpuMs: () => 0, env: {} });
    try {
      const r = await runBenchmark({ backend, prompts: promptsOf(prompts), settings, load, energy, idleSeconds: 0 });
      // The runner stamps the dispatch just before the backend's own start stamp.
      const lastStart = backend.dispatchTimesNs.at(-1)!;
      return { r, sinceLastStartS: Number(r.energyWindow!.endNs - lastStart) / 1e9 };
    } finally {
      await energy.close();
    }
  };
  // 5 requests, 4 at a time: the 5th starts when the first finishes and runs alone to the end.
  const concurrent = await run({ mode: 'concurrency', concurrency: 4 }, 5);
  const e = concurrent.r.summary.energy;
  expect(e.status).toBe('measured');
  expect(e.ramp_down_seconds!).toBeGreaterThanOrEqual(concurrent.sinceLastStartS);
  expect(e.ramp_down_seconds!).toBeLessThan(concurrent.sinceLastStartS + 0.02);
  expect(e.ramp_down_seconds!).toBeGreaterThan(0.07);
  const share = (100 * e.ramp_down_seconds!) / e.window_seconds!;
  expect(share).toBeGreaterThan(10);
  expect(concurrent.r.warnings).toContain(e.warnings[0]);
  expect(e.warnings[0]).toMatch(new RegExp(`^ramp-down: ${share.toFixed(1)} % of the energy window \\(${e.ramp_down_seconds!.toFixed(3)} s of ${e.window_seconds!.toFixed(3)} s\\) .*load's maximum \\(concurrency 4\\)`));

  // One at a time: the last request alone is no ramp-down from a higher load; no warning.
  const sequential = await run({ mode: 'sequential' }, 3);
  expect(sequential.r.summary.energy.ramp_down_seconds!).toBeGreaterThan(0.07);
  expect(sequential.r.summary.energy.warnings).toEqual([]);
  expect(sequential.r.warnings).toEqual([]);
});

describe('server metrics against the client count', () => {
  /** A probe whose server counts `counts[i]` finished requests at the i-th after-run scrape. */
  function countingProbe(counts: number[]) {
    let scrapes = 0;
    return {
      scrapes: () => scrapes,
      probes: {
        serverMetrics: {
          snapshot: async () => ({ scrape: scrapes++ }),
          diff: (_before: unknown, after: unknown) => ({ counted: counts[Math.min(counts.length - 1, (after as { scrape: number }).scrape - 1)]! }),
          countedRequests: (d: unknown) => (d as { counted: number }).counted,
        },
      },
    };
  }

  it('scrapes again while the server has counted fewer finished requests than the client saw, and keeps the matching window', async () => {
    const p = countingProbe([2, 3, 4]);
    const r = await runBenchmark({ backend: scriptedBackend(), prompts: promptsOf(4), settings, probes: p.probes });
    expect(p.scrapes()).toBe(4); // before, then three after-run scrapes until 4 of 4
    expect(r.serverMetrics).toEqual({ counted: 4 });
    expect(r.warnings.join('\n')).not.toMatch(/server metrics counted/);
  });

  it('warns when the counts never meet, and when the server counted other clients too', async () => {
    const lagging = countingProbe([1]);
    const r = await runBenchmark({ backend: scriptedBackend(), prompts: promptsOf(3), settings, probes: lagging.probes });
    expect(lagging.scrapes()).toBe(6); // before + 5 after
    expect(r.warnings.join('\n')).toMatch(/server metrics counted 1 finished requests where the client saw 3 complete \(after 5 scrapes/);
    const shared = countingProbe([10]);
    const s = await runBenchmark({ backend: scriptedBackend(), prompts: promptsOf(3), settings, probes: shared.probes });
    expect(shared.scrapes()).toBe(2);
    expect(s.warnings.join('\n')).toMatch(/counted 10 finished requests while this run sent 3: other clients share the server/);
  });
});

it('a rate run that cannot hold its schedule says so (a cap of 1 in flight at 100/s with 50 ms requests)', async () => {
  const backend = scriptedBackend({ script: () => ({ delayMs: 50 }) });
  const r = await runBenchmark({ backend, prompts: promptsOf(4), settings, load: { mode: 'rate', rate: 100, arrival: 'constant', maxConcurrency: 1 } });
  expect(r.warnings.join('\n')).toMatch(/the cap of 1 in flight, or a busy client\): the run did not hold the offered rate of 100\/s/);
  const calm = await runBenchmark({ backend: scriptedBackend(), prompts: promptsOf(3), settings, load: { mode: 'rate', rate: 20, arrival: 'constant' } });
  expect(calm.warnings.join('\n')).not.toMatch(/offered rate/);
});
