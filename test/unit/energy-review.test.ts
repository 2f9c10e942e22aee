// Regression tests from the energy-measurement review: each one pins a defect found in
// src/energy/ or src/runner/summary.ts (fake powercap trees in a temp dir, in-memory NVML).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { COUNTER_UPDATE_PERIOD_S } from '../../src/energy/gpu-probe.js';
import { createEnergyMonitor } from '../../src/energy/index.js';
import type { NvmlProvider } from '../../src/energy/nvml-adapter.js';
import { discoverRapl, RaplProbe } from '../../src/energy/rapl.js';
import { buildSummary } from '../../src/runner/summary.js';
import type { EnergyWindowResult } from '../../src/energy/types.js';
import { memoryNvml, type MemoryDevice } from '../fixtures/fake-nvml/harness.js';

const base = mkdtempSync(join(tmpdir(), 'aeb-energy-review-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
/** A fresh powercap root with the given domains: [path, name, energy_uj, max_energy_range_uj]. */
function tree(domains: Array<[string, string, number, number?]>): string {
  const root = join(base, `t${n++}`);
  for (const [path, name, uj, max] of domains) {
    mkdirSync(join(root, path), { recursive: true });
    writeFileSync(join(root, path, 'name'), `${name}\n`);
    writeFileSync(join(root, path, 'energy_uj'), `${uj}\n`);
    writeFileSync(join(root, path, 'max_energy_range_uj'), `${max ?? 262_143_328_850}\n`);
  }
  return root;
}
const noRapl = tree([]);
mkdirSync(noRapl, { recursive: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const COUNTER_WINDOW_MS = COUNTER_UPDATE_PERIOD_S * 1000 + 20;
const h200 = (i: number, series: MemoryDevice['series']): MemoryDevice => ({
  name: 'NVIDIA H200', busId: `00000000:${(0x19 + i).toString(16)}:00.0`, uuid: `GPU-${i}`, series,
});
const summarise = (energy: EnergyWindowResult | null, idle: { seconds: number; watts: Record<string, number> } | null = null) =>
  buildSummary({ records: [], plannedPrompts: 0, warmupRequests: 0, durationSeconds: 1, stopReason: null, cancelledInFlight: 0, energy, idle, emissions: null });

describe('energy review: regressions', () => {
  // measurement.md "Idle baseline": total and dynamic reported separately; the brief: dynamic
  // energy is never negative without a label. monitor.ts stopWindow() leaves it unlabelled.
  it('labels a negative idle-subtracted (dynamic) GPU figure instead of reporting it silently', async () => {
    // Idle: 10 J in ~0.2 s (≈ 50 W). Window: 1 mJ in ~0.12 s → dynamic ≈ −6 J.
    const nvml = memoryNvml([h200(0, { energyMj: [0, 10_000, 10_000, 10_001] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, gpu: { deviceIds: [0] }, busyCpuMs: () => 0, env: {} });
    const idle = await m.measureIdle(0.2);
    await m.startWindow('w');
    await sleep(COUNTER_WINDOW_MS);
    const w = await m.stopWindow();
    await m.close();
    const g = w.figures.find((f) => f.scope === 'gpu')!;
    expect(g.status).toBe('ok');
    expect(g.dynamicJoules!).toBeLessThan(0);
    expect(g.reason ?? '').toMatch(/idle/i);
    const s = summarise(w, idle);
    expect(s.energy.gpu_dynamic_joules!).toBeLessThan(0);
    expect(s.energy.warnings.join('\n')).toMatch(/idle/i);
  });

  // measurement.md: a failed read is an invalid window, never a lost one. A GPU read that
  // rejects at the window end (GpuProbe.end → session.read) rejects stopWindow(): the valid
  // RAPL figures are lost, the summary says 'unavailable', and the monitor stays stuck open.
  it('an NVML read that fails at the window end gives an invalid GPU figure, keeps the CPU figures, and closes the window', async () => {
    const mem = memoryNvml([h200(0, { energyMj: [0, 1000, 2000] })]);
    let failReads = false;
    const provider: NvmlProvider = {
      open(path) {
        const s = mem.provider.open(path);
        return { ...s, devices: () => s.devices(), close: () => s.close(),
          read: async (i, g) => { if (failReads) throw new Error('NVML_ERROR_GPU_IS_LOST'); return s.read(i, g); } };
      },
    };
    const root = tree([['intel-rapl:0', 'package-0', 1_000_000]]);
    const m = await createEnergyMonitor({ nvml: provider, raplRoot: root, sampleHz: 0, gpu: { deviceIds: [0] }, env: {} });
    try {
      await m.startWindow('w');
      await sleep(COUNTER_WINDOW_MS);
      writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), '3000000\n'); // +2 J
      failReads = true;
      const w = await m.stopWindow().catch((e: unknown) => e as Error);
      expect(w).not.toBeInstanceOf(Error);
      const win = w as EnergyWindowResult;
      expect(win.figures.find((f) => f.scope === 'gpu')).toMatchObject({ status: 'invalid', joules: null });
      expect(win.figures.find((f) => f.scope === 'cpu-package')).toMatchObject({ status: 'ok', joules: 2 });
      expect(summarise(win).energy.status).toBe('invalid');
    } finally {
      failReads = false;
      await m.startWindow('next').then(() => m.stopWindow(), () => undefined);
      await m.close();
    }
  });

  // measurement.md "CPU/DRAM: RAPL … Package domains only". A package whose counter exists but
  // cannot be read is dropped from the total (monitor.ts cpuTotal), so the run's CPU figure
  // silently covers one socket of two under the scope 'cpu-package'.
  it('does not report a CPU total that silently omits an existing but unreadable package', async () => {
    const root = tree([
      ['intel-rapl:0', 'package-0', 1_000_000],
      ['intel-rapl:1', 'package-1', 1_000_000],
    ]);
    const read = async (p: string) => {
      if (p.endsWith('energy_uj') && p.includes('intel-rapl:1')) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      return readFile(p, 'utf8');
    };
    const m = await createEnergyMonitor({ gpu: false, raplRoot: root, raplReadFile: read, sampleHz: 0, env: {} });
    await m.startWindow('w');
    writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), '2000000\n');
    const w = await m.stopWindow();
    await m.close();
    const s = summarise(w);
    const said = s.energy.warnings.some((x) => x.includes('package-1'));
    expect(w.cpuJoules === null || said).toBe(true);
  });

  // measurement.md: RAPL wraps at max_energy_range_uj. A counter read less often than it can
  // wrap (here the range is 1000 µJ: any read interval ≥ 1 ms at ≥ 1 W may hide whole wraps)
  // gives an undercount that RaplProbe reports as an exact 'ok' figure.
  it('flags a RAPL window whose reads are further apart than the counter can wrap', async () => {
    const root = tree([['intel-rapl:0', 'package-0', 100, 1000]]);
    const probe = new RaplProbe(await discoverRapl(root), undefined, 10);
    await probe.begin();
    await sleep(300);
    writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), '200\n');
    const [fig] = await probe.end();
    probe.close();
    expect(fig!.status !== 'ok' || /wrap/i.test(fig!.reason ?? '')).toBe(true);
  });

  // summary.ts explains it never falls back to the CPU figure when a GPU sensor exists, or
  // wh_per_1000_queries would silently change meaning. A GPU the run uses that is unavailable
  // (MIG instance, no counter and no power) does exactly that: 'measured', scope cpu-package,
  // no warning — the per-query energy of a GPU run is the CPU's alone.
  it('warns when the GPU the run uses is unmetered and the primary figure falls back to the CPU', async () => {
    const nvml = memoryNvml([h200(0, { energyMj: [0, 1000] })]);
    const root = tree([['intel-rapl:0', 'package-0', 1_000_000]]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: root, sampleHz: 0, env: { CUDA_VISIBLE_DEVICES: 'MIG-4f1d1d2a-0000-0000-0000-000000000000' } });
    await m.startWindow('w');
    writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), '5000000\n');
    const w = await m.stopWindow();
    await m.close();
    expect(w.figures.find((f) => f.scope === 'gpu')).toMatchObject({ status: 'unavailable' });
    const s = summarise(w);
    expect(s.energy.scope).toBe('cpu-package');
    expect(s.energy.warnings.join('\n')).toMatch(/GPU|MIG/);
  });
  // measurement.md "a missing sensor is 'unavailable', never 0". A package counter that does
  // not move (VMs that expose powercap but return 0 from the MSR) is read as an exact 0 J
  // 'measured' CPU figure — the primary figure of a CPU run, so wh_per_1000_queries reads 0.
  it('does not report a RAPL package counter that never moved as a measured 0 J', async () => {
    const root = tree([['intel-rapl:0', 'package-0', 0]]);
    const m = await createEnergyMonitor({ gpu: false, raplRoot: root, sampleHz: 0, env: {} });
    await m.startWindow('w');
    await sleep(200); // a package draws watts: 200 ms moves a live counter by ~10⁵–10⁷ µJ
    const w = await m.stopWindow();
    await m.close();
    const pkg = w.figures.find((f) => f.scope === 'cpu-package')!;
    expect(pkg.status === 'ok' && pkg.joules === 0).toBe(false);
    expect(summarise(w).energy.primary_joules).not.toBe(0);
  });

  // The same for the GPU counter: a window longer than the update period always spans an
  // update, and a powered GPU never draws 0 mJ, so a zero delta is a stuck counter, not 0 J.
  it('does not report a GPU energy counter that never moved over a window longer than its update period as 0 J', async () => {
    const nvml = memoryNvml([h200(0, { energyMj: [123_456, 123_456] })]);
    const m = await createEnergyMonitor({ nvml: nvml.provider, raplRoot: noRapl, sampleHz: 0, gpu: { deviceIds: [0] }, busyCpuMs: () => 0, env: {} });
    await m.startWindow('w');
    await sleep(COUNTER_WINDOW_MS + 100);
    const w = await m.stopWindow();
    await m.close();
    const g = w.figures.find((f) => f.scope === 'gpu')!;
    expect(g.status === 'ok' && g.joules === 0).toBe(false);
  });
});

describe('energy review: idle drift', () => {
  it('warns when idle power after the run moved by more than 30 % from before, naming the sensor', () => {
    const w: EnergyWindowResult = {
      label: 'measured', startNs: 0n, endNs: 1_000_000_000n, seconds: 1, gpuJoules: 100, cpuJoules: null,
      figures: [{ scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0', joules: 100 }],
    };
    const s = (afterW: number) => buildSummary({
      records: [], plannedPrompts: 0, warmupRequests: 0, durationSeconds: 1, stopReason: null, cancelledInFlight: 0, energy: w,
      idle: { seconds: 1, watts: { 'GPU 0': 50 } }, idleAfter: { seconds: 1, watts: { 'GPU 0': afterW } }, emissions: null,
    });
    expect(s(1).energy.warnings.join('\n')).toMatch(/idle power after the run differs from before by -98 % \(GPU 0\)/);
    expect(s(55).energy.warnings.join('\n')).not.toMatch(/idle power/);
  });
});
