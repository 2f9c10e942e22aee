import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { createEnergyMonitor, describeEnergySensors, type EnergyMonitorOptions } from '../../src/energy/index.js';
import { COUNTER_UPDATE_PERIOD_S } from '../../src/energy/gpu-probe.js';
import { failingNvmlProvider, type NvmlProvider } from '../../src/energy/nvml-adapter.js';
import { buildSummary } from '../../src/runner/summary.js';
import { GpuSampler } from '../../src/energy/sampler.js';
import { memoryNvml, type MemoryDevice } from '../fixtures/fake-nvml/harness.js';

const noRapl = mkdtempSync(join(tmpdir(), 'aeb-norapl-'));
afterAll(() => rmSync(noRapl, { recursive: true, force: true }));

const h200 = (i: number, series: MemoryDevice['series']): MemoryDevice => ({
  name: 'NVIDIA H200',
  busId: `00000000:${(0x19 + i).toString(16)}:00.0`,
  uuid: `GPU-${i}`,
  series,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A window long enough for the energy counter (≥ its ~100 ms update period). */
const COUNTER_WINDOW_MS = COUNTER_UPDATE_PERIOD_S * 1000 + 10;
/** busy CPU ms since boot, advancing by `step` per call. */
const busyClock = (step: number) => {
  let t = 0;
  return () => (t += step);
};

describe('energy monitor (in-memory NVML)', () => {
  it('reports counter deltas per GPU exactly, their sum, and idle-subtracted energy', async () => {
    const nvml = memoryNvml([
      h200(0, { energyMj: [1000, 1500, 10_000, 12_345], powerMw: [90_000] }),
      h200(1, { energyMj: [5, 205, 400, 1400], powerMw: [80_000] }),
    ]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, busyCpuMs: busyClock(500), env: {} });
    const idle = await m.measureIdle(0.2);
    expect(idle!.seconds).toBeGreaterThanOrEqual(0.19);
    expect(idle!.watts['GPU 0 (NVIDIA H200, 0000:19:00.0)']).toBeCloseTo(0.5 / idle!.seconds, 9);
    expect(idle!.watts['GPU 1 (NVIDIA H200, 0000:1a:00.0)']).toBeCloseTo(0.2 / idle!.seconds, 9);

    await m.startWindow('steady');
    await sleep(120);
    const w = await m.stopWindow();
    expect(w.label).toBe('steady');
    expect(w.seconds).toBeGreaterThanOrEqual(0.11);
    expect(Number(w.endNs - w.startNs) / 1e9).toBeCloseTo(w.seconds, 9);
    const [g0, g1] = w.figures.filter((f) => f.scope === 'gpu');
    expect(g0).toMatchObject({ scope: 'gpu', method: 'counter', status: 'ok', joules: 2.345 });
    expect(g1).toMatchObject({ status: 'ok', joules: 1 });
    expect(g0!.reason).toBeUndefined();
    expect(w.gpuJoules).toBeCloseTo(3.345, 12);
    expect(g0!.dynamicJoules).toBeCloseTo(2.345 - idle!.watts[g0!.source]! * w.seconds, 12);
    // No RAPL here: the CPU figure is an estimate (500 ms busy per read × 10 W/core) and says so.
    const cpu = w.figures.find((f) => f.scope === 'estimated-cpu')!;
    expect(cpu).toMatchObject({ method: 'estimated', status: 'ok', joules: 5 });
    expect(cpu.reason).toMatch(/^estimated/);
    expect(w.figures.find((f) => f.scope === 'cpu-package')).toMatchObject({ status: 'unavailable', joules: null });
    expect(w.cpuJoules).toBe(5);
    await m.close();
    expect(nvml.openSessions()).toBe(0);
  });

  it('measuresEnergy(): true with a GPU counter, false when only the CPU estimate is left', async () => {
    const nvml = memoryNvml([h200(0, { energyMj: [0, 1000, 2000, 3000], powerMw: [90_000] })]);
    const gpu = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, env: {} });
    expect(await gpu.measuresEnergy!()).toBe(true);
    await gpu.close();
    const estimateOnly = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0, busyCpuMs: busyClock(1), env: {} });
    expect(await estimateOnly.measuresEnergy!()).toBe(false);
    await estimateOnly.close();
  });

  it('the CPU estimate gives no figure (invalid, never 0 J) when the busy time is within its counters\' resolution', async () => {
    const { CpuEstimateProbe } = await import('../../src/energy/cpu-estimate.js');
    const read = async (busyMs: number[], resolutionMs: number) => {
      const probe = new CpuEstimateProbe(10, () => busyMs.shift()!, resolutionMs);
      await probe.begin();
      return (await probe.end())[0]!;
    };
    // 10 ms per reading: ±20 ms over a window, so under 40 ms busy is no estimate.
    const tooLittle = await read([1000, 1030], 10);
    expect(tooLittle).toMatchObject({ status: 'invalid', joules: null });
    expect(tooLittle.reason).toMatch(/^30 ms of busy CPU time in the window against ±20 ms from the CPU-time counters/);
    expect(await read([1000, 1000], 10)).toMatchObject({ status: 'invalid', joules: null });
    expect(await read([1000, 1050], 10)).toMatchObject({ status: 'ok', joules: 0.5 });
    // The system counter (os.cpus(): 10 ms ticks per core) over a window of no time at all.
    const instant = new CpuEstimateProbe();
    await instant.begin();
    expect((await instant.end())[0]).toMatchObject({ status: 'invalid', joules: null });
  });

  it('an abort ends the idle baseline at once, with no baseline (a cut-short idle is none)', async () => {
    const m = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0, busyCpuMs: busyClock(100), env: {} });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = performance.now();
    expect(await m.measureIdle(30, ac.signal)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(5_000);
    // The probes' windows were closed: the monitor works on.
    await m.startWindow('after');
    expect((await m.stopWindow()).label).toBe('after');
    await m.close();
  });

  it('tells users where to set the watts per core of the CPU estimate: config key, flag and API option', async () => {
    const m = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0, busyCpuMs: busyClock(100), cpuWattsPerCore: 7, env: {} });
    await m.startWindow('w');
    const cpu = (await m.stopWindow()).figures.find((f) => f.scope === 'estimated-cpu')!;
    await m.close();
    expect(cpu.joules).toBeCloseTo(0.7, 12);
    expect(cpu.reason).toBe(
      'estimated (no CPU energy sensor): busy core-seconds × 7 W per core; set metrics.cpu_watts_per_core (config), ' +
        "--cpu-watts-per-core (command line) or cpuWattsPerCore (TypeScript API) to the CPU's TDP ÷ cores",
    );
    const [described] = await describeEnergySensors({ gpu: false, raplRoot: noRapl, env: {} }).then((r) => r.filter((d) => d.scope === 'estimated-cpu'));
    expect(described!.reason).toContain('metrics.cpu_watts_per_core');
  });

  it('subtracts idle power only when the window used the same method as the baseline', async () => {
    // Idle: counter works (start 0, end 1000). Window: counter fails, power is integrated.
    const nvml = memoryNvml([h200(0, { energyMj: [0, 1000, { error: 3 }], powerMw: [100_000] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, env: {} });
    expect(Object.keys((await m.measureIdle(0.15))!.watts)).toContain('GPU 0 (NVIDIA H200, 0000:19:00.0)');
    await m.startWindow('w');
    const w = await m.stopWindow();
    expect(w.figures[0]).toMatchObject({ method: 'integrated', status: 'ok', dynamicJoules: null });
    await m.close();
  });

  it('invalidates a window whose counter went backwards (reset), never clamping it', async () => {
    const nvml = memoryNvml([h200(0, { energyMj: [50_000, 20] }), h200(1, { energyMj: [10, 30] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, env: {} });
    await m.startWindow('run');
    await sleep(COUNTER_WINDOW_MS);
    const w = await m.stopWindow();
    const [g0, g1] = w.figures;
    expect(g0).toMatchObject({ status: 'invalid', joules: null });
    expect(g0!.reason).toMatch(/counter went backwards \(50000 mJ at start, 20 mJ at end\)/);
    expect(g1).toMatchObject({ status: 'ok', joules: 0.02 });
    expect(w.gpuJoules).toBeNull();
    await m.close();
  });

  it('invalidates a counter window shorter than the counter update period (no 0 J "measured")', async () => {
    // The counter steps every ~100 ms: a short window reads 0 or one step, whatever was drawn.
    const nvml = memoryNvml([h200(0, { energyMj: [0, 0] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, busyCpuMs: busyClock(1), env: {} });
    await m.startWindow('tiny');
    const w = await m.stopWindow();
    const g = w.figures[0]!;
    expect(g).toMatchObject({ scope: 'gpu', method: 'counter', status: 'invalid', joules: null, source: 'GPU 0 (NVIDIA H200, 0000:19:00.0)' });
    expect(g.reason).toMatch(/^window 0\.0\d\d s is shorter than the energy counter's update period \(~100 ms\): its delta \(0 mJ\) cannot be trusted/);
    expect(w.gpuJoules).toBeNull();
    const s = buildSummary({ records: [], plannedPrompts: 0, warmupRequests: 0, durationSeconds: 0, stopReason: null, cancelledInFlight: 0, energy: w, idle: null, emissions: null });
    expect(s.energy).toMatchObject({ status: 'invalid', scope: 'gpu', primary_joules: null });
    expect(s.gpu_energy_wh).toBeNull();
    await m.close();
  });

  it('invalidates an integrated window whose power readings span no time (nothing to integrate)', async () => {
    // A clock that does not move between the window's two power readings: one sample, no span.
    const base = memoryNvml([h200(0, { energyMj: [{ error: 3 }], powerMw: [200_000] })]).provider;
    const frozen: NvmlProvider = {
      open: (lib) => {
        const s = base.open(lib);
        return { ...s, read: async (i, g) => (await s.read(i, g)).map((r) => ({ ...r, tNs: 1n })) };
      },
    };
    const m = await createEnergyMonitor({ nvml: frozen, raplRoot: noRapl, sampleHz: 0, busyCpuMs: busyClock(1), env: {} });
    await m.startWindow('w');
    await sleep(COUNTER_WINDOW_MS);
    const w = await m.stopWindow();
    await m.close();
    expect(w.figures[0]).toMatchObject({ method: 'integrated', status: 'invalid', joules: null });
    expect(w.figures[0]!.reason).toMatch(/power integrated over 1 sample in a 0\.1\d\d s window: no reading after the window start, nothing to integrate/);
    expect(w.gpuJoules).toBeNull();
  });

  it('integrates power where the energy counter is not supported, and labels it', async () => {
    const nvml = memoryNvml([h200(0, { energyMj: [{ error: 3 }], powerMw: [200_000] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 50, env: {} });
    await m.startWindow('pre-volta');
    await sleep(300);
    const w = await m.stopWindow();
    const g = w.figures[0]!;
    expect(g).toMatchObject({ scope: 'gpu', method: 'integrated', status: 'ok' });
    expect(g.joules!).toBeGreaterThan(200 * w.seconds * 0.9);
    expect(g.joules!).toBeLessThan(200 * w.seconds * 1.1);
    expect(g.reason).toMatch(/energy counter unavailable \(fake NVML error 3\); power integrated over (\d+) samples/);
    expect(Number(/over (\d+) samples/.exec(g.reason!)![1])).toBeGreaterThan(5);
    expect(g.reason).not.toMatch(/below the 10 Hz/);
    await m.close();
  });

  it('flags integration below 10 Hz (sampler off)', async () => {
    const nvml = memoryNvml([h200(0, { powerMw: [100_000, 300_000] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, env: {} });
    await m.startWindow('slow');
    await sleep(250);
    const w = await m.stopWindow();
    expect(w.figures[0]!.reason).toMatch(/below the 10 Hz needed/);
    // Two points, trapezoid: mean of 100 W and 300 W over the read interval.
    expect(w.figures[0]!.joules!).toBeGreaterThan(200 * 0.24);
    await m.close();
  });

  it('reports a GPU with neither counter nor power as unavailable, naming both errors', async () => {
    const nvml = memoryNvml([h200(0, { energyMj: [{ error: 3 }], powerMw: [{ error: 4 }] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, env: {} });
    await m.startWindow('x');
    const w = await m.stopWindow();
    expect(w.figures[0]).toMatchObject({ scope: 'gpu', status: 'unavailable', joules: null });
    expect(w.figures[0]!.reason).toBe('energy counter unavailable (fake NVML error 3); power unavailable (fake NVML error 4)');
    expect(w.gpuJoules).toBeNull();
    await m.close();
  });

  it('meters only the GPUs the run uses (CUDA_VISIBLE_DEVICES, bus ids, device ids)', async () => {
    const devs = [h200(0, { energyMj: [0, 1000] }), h200(1, { energyMj: [0, 2000] }), h200(2, { energyMj: [0, 4000] })];
    const run = async (gpu: EnergyMonitorOptions['gpu'], env: Record<string, string>) => {
      const m = await createEnergyMonitor({ nvml: memoryNvml(devs).provider, gpu, raplRoot: noRapl, sampleHz: 0, env });
      await m.startWindow('w');
      await sleep(COUNTER_WINDOW_MS);
      const w = await m.stopWindow();
      await m.close();
      return w.gpuJoules;
    };
    expect(await run(undefined, {})).toBe(7);
    expect(await run(undefined, { CUDA_VISIBLE_DEVICES: '2' })).toBe(4);
    expect(await run({ cudaOrdinals: [1] }, { CUDA_VISIBLE_DEVICES: '0,1' })).toBe(2);
    expect(await run({ busIds: ['0000:1b:00.0', '0000:19:00.0'] }, { CUDA_VISIBLE_DEVICES: '1' })).toBe(5);
    expect(await run({ deviceIds: [1] }, {})).toBe(2);
  });

  it('says why GPU energy is unavailable: no local GPU, addon missing, NVML init failure', async () => {
    const remote = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0 });
    await remote.startWindow('w');
    const w = await remote.stopWindow();
    expect(w.figures[0]).toMatchObject({ scope: 'gpu', status: 'unavailable', joules: null });
    expect(w.figures[0]!.reason).toMatch(/no local GPU named for this run.*backend\.device_ids/);
    await remote.close();

    const noAddon = await describeEnergySensors({
      nvml: failingNvmlProvider('native addon not built: run npm run build:native', 'NVML_ADDON_MISSING'),
      raplRoot: noRapl,
    });
    expect(noAddon[0]).toEqual({
      scope: 'gpu', method: 'counter', status: 'unavailable', source: 'GPU',
      reason: 'unavailable: native addon not built: run npm run build:native',
    });
    const initFail = await describeEnergySensors({ nvml: memoryNvml([], { openError: 'Driver Not Loaded' }).provider, raplRoot: noRapl });
    expect(initFail[0]!.reason).toBe('unavailable: Driver Not Loaded');
    const none = await describeEnergySensors({ nvml: memoryNvml([]).provider, raplRoot: noRapl });
    expect(none[0]!.reason).toBe('unavailable: NVML (memory) reports no GPU');
  });

  it('describes sensors: counter, integrated, mapping misses, RAPL and the CPU estimate', async () => {
    const nvml = memoryNvml([h200(0, { energyMj: [5] }), h200(1, { energyMj: [{ error: 13 }], powerMw: [1] })]);
    const rows = await describeEnergySensors({ nvml: nvml.provider, gpu: { cudaOrdinals: [0, 1, 2] }, raplRoot: noRapl, env: {} });
    expect(rows.map((r) => [r.scope, r.method, r.status, r.source])).toEqual([
      ['gpu', 'counter', 'ok', 'GPU 0 (NVIDIA H200, 0000:19:00.0)'],
      ['gpu', 'integrated', 'ok', 'GPU 1 (NVIDIA H200, 0000:1a:00.0)'],
      ['gpu', 'counter', 'unavailable', 'cuda:2'],
      ['cpu-package', 'counter', 'unavailable', 'RAPL'],
      ['estimated-cpu', 'estimated', 'ok', 'system CPU time × 10 W/core'],
    ]);
    expect(nvml.openSessions()).toBe(0);
  });

  it('enforces the window protocol and validates options', async () => {
    await expect(createEnergyMonitor({ sampleHz: -1, gpu: false })).rejects.toThrow(/sampleHz: -1/);
    await expect(createEnergyMonitor({ cpuWattsPerCore: 0, gpu: false, raplRoot: noRapl })).rejects.toThrow(/cpuWattsPerCore: 0/);
    const m = await createEnergyMonitor({ gpu: false, raplRoot: noRapl, sampleHz: 0 });
    await expect(m.stopWindow()).rejects.toThrow(/without startWindow/);
    await m.startWindow('a');
    await expect(m.startWindow('b')).rejects.toThrow(/while window 'a' is open/);
    await expect(m.measureIdle(1)).rejects.toThrow(/measureIdle\(\) while window 'a' is open/);
    await m.stopWindow();
    expect(await m.measureIdle(0)).toBeNull();
    await m.close();
    await expect(m.startWindow('c')).rejects.toThrow(/after close/);
  });

  it('records a telemetry timeline without keeping the process alive', async () => {
    const nvml = memoryNvml([
      h200(0, {
        powerMw: [150_000, 250_000], powerLimitMw: [700_000], utilGpuPct: [97], utilMemPct: [40],
        memUsedBytes: [2 * 1024 * 1024 * 1024], memTotalBytes: [141 * 1024 * 1024 * 1024],
        temperatureC: [55], clockSmMhz: [1980], clockMemMhz: [3201],
      }),
    ]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 40, env: {} });
    await sleep(300);
    const rows = m.timeline() as Array<{ t: number; monoNs: string; gpus: Array<Record<string, unknown>> }>;
    expect(rows.length).toBeGreaterThanOrEqual(6);
    expect(rows[1]!.gpus[0]).toEqual({
      source: 'GPU 0 (NVIDIA H200, 0000:19:00.0)', powerW: 250, powerLimitW: 700, utilGpuPct: 97, utilMemPct: 40,
      memUsedMiB: 2048, memTotalMiB: 141 * 1024, temperatureC: 55, smClockMHz: 1980, memClockMHz: 3201,
    });
    expect(rows[1]!.t).toBeGreaterThan(rows[0]!.t);
    expect(BigInt(rows[1]!.monoNs) - BigInt(rows[0]!.monoNs)).toBe(BigInt(Math.round((rows[1]!.t - rows[0]!.t) * 1e9)));
    expect(nvml.calls.every((c) => !c.groups.includes('energy'))).toBe(true);
    await m.close();
    const n = rows.length;
    await sleep(100);
    expect((m.timeline() as unknown[]).length).toBe(n); // stopped

    const s = new GpuSampler(memoryNvml([h200(0, {})]).provider.open(), [{ nvmlIndex: 0, label: 'g' }], { hz: 10 });
    s.start();
    expect((s as unknown as { timer: NodeJS.Timeout }).timer.hasRef()).toBe(false);
    s.stop();
  });
});
