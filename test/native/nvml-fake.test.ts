// The NVML path end to end: addon (dlopen/dlsym in native/core/nvml.cpp) → adapter → monitor,
// against a fake libnvidia-ml built here from test/fixtures/fake-nvml/fake_nvml.c.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createEnergyMonitor, describeEnergySensors, type EnergyMonitorOptions } from '../../src/energy/index.js';
import { addonNvmlProvider, NvmlOpenError, type NvmlAddon, type NvmlProvider } from '../../src/energy/nvml-adapter.js';
import { buildFakeNvml, loadNvmlAddon } from '../fixtures/fake-nvml/harness.js';

let dir: string;
let addon: NvmlAddon;
let from: string;
let provider: NvmlProvider;
let lib: string;
let libNoEnergy: string;
let libNoErrorString: string;
let noRapl: string;
let scriptNo = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeb-fake-nvml-'));
  noRapl = join(dir, 'no-rapl');
  lib = buildFakeNvml(dir);
  libNoEnergy = buildFakeNvml(dir, 'libnvml-old.so', ['nvmlDeviceGetTotalEnergyConsumption']);
  libNoErrorString = buildFakeNvml(dir, 'libnvml-noerr.so', ['nvmlErrorString']);
  ({ addon, from } = loadNvmlAddon(dir));
  provider = addonNvmlProvider(addon);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.AEB_FAKE_NVML_SCRIPT;
  delete process.env.AEB_NVML_LIBRARY;
});

/** Writes a fake-NVML script and points the fake at it (read at nvmlInit). */
function script(text: string): void {
  const path = join(dir, `script-${scriptNo++}.txt`);
  writeFileSync(path, text);
  process.env.AEB_FAKE_NVML_SCRIPT = path;
}

const THREE_GPUS = `
# NVML index order differs from PCI order on purpose
device
name NVIDIA H200
bus 00000000:9A:00.0
uuid GPU-cccc0000-1111-2222-3333-444455556666
energy 100000 100500 101500
power 400000
device
name NVIDIA H200
bus 00000000:19:00.0
uuid GPU-aaaa0000-1111-2222-3333-444455556666
energy 7000 9000 15000
power 300000
device
name NVIDIA H200
bus 00000000:3B:00.0
uuid GPU-bbbb0000-1111-2222-3333-444455556666
energy 0 1 3
`;

async function oneWindow(opts: EnergyMonitorOptions) {
  const m = await createEnergyMonitor({ nvml: provider, nvmlLibrary: lib, raplRoot: noRapl, sampleHz: 0, env: {}, ...opts });
  try {
    await m.startWindow('w');
    await new Promise((r) => setTimeout(r, 110)); // ≥ the counter's ~100 ms update period (shorter windows are invalid)
    return await m.stopWindow();
  } finally {
    await m.close();
  }
}

describe('NVML through the addon and a fake libnvidia-ml', () => {
  it('lists devices with name, bus id and UUID', () => {
    script(THREE_GPUS);
    const s = provider.open(lib);
    try {
      expect(s.libraryPath).toBe(lib);
      expect(s.missingFunctions).toEqual([]);
      expect(s.devices()).toEqual([
        { index: 0, name: 'NVIDIA H200', busId: '00000000:9A:00.0', uuid: 'GPU-cccc0000-1111-2222-3333-444455556666', errors: {} },
        { index: 1, name: 'NVIDIA H200', busId: '00000000:19:00.0', uuid: 'GPU-aaaa0000-1111-2222-3333-444455556666', errors: {} },
        { index: 2, name: 'NVIDIA H200', busId: '00000000:3B:00.0', uuid: 'GPU-bbbb0000-1111-2222-3333-444455556666', errors: {} },
      ]);
    } finally {
      s.close();
    }
  });

  it('reads every telemetry field and reports unsupported ones with NVML\'s message', async () => {
    script(`device
name G
bus 0000:01:00.0
uuid GPU-1
power 123456
power_limit 700000
util_gpu 99
util_mem 45
mem_used 1024
mem_total 4096
temp 61
clock_sm 1980
`);
    const s = provider.open(lib);
    try {
      const [r] = await s.read([0], ['power', 'powerLimit', 'utilization', 'memory', 'temperature', 'clocks']);
      expect(typeof r!.tNs).toBe('bigint');
      const now = process.hrtime.bigint();
      expect(r!.tNs <= now && now - r!.tNs < 5_000_000_000n).toBe(true); // same monotonic clock
      expect(r!.values).toEqual({
        powerMw: 123456, powerLimitMw: 700000, utilGpuPct: 99, utilMemPct: 45, memUsedBytes: 1024,
        memTotalBytes: 4096, temperatureC: 61, clockSmMhz: 1980, clockMemMhz: null,
      });
      expect(r!.errors).toEqual({ clockMemMhz: { code: 3, message: 'Not Supported (NVML error 3): not supported on this GPU' } });
      await expect(s.read([3], ['power'])).rejects.toThrow(/index 3 is not an NVML device index/);
    } finally {
      s.close();
    }
    await expect(s.read([0], ['power'])).rejects.toThrow(/closed/);
  });

  it('gives energy windows equal to the scripted counter deltas, per GPU and summed', async () => {
    script(THREE_GPUS);
    const w = await oneWindow({});
    expect(w.figures.filter((f) => f.scope === 'gpu').map((f) => [f.source, f.method, f.status, f.joules])).toEqual([
      ['GPU 1 (NVIDIA H200, 0000:19:00.0)', 'counter', 'ok', 2],
      ['GPU 2 (NVIDIA H200, 0000:3b:00.0)', 'counter', 'ok', 0.001],
      ['GPU 0 (NVIDIA H200, 0000:9a:00.0)', 'counter', 'ok', 0.5],
    ]);
    expect(w.gpuJoules).toBeCloseTo(2.501, 12);
  });

  it('meters the GPUs named by CUDA_VISIBLE_DEVICES and by bus id', async () => {
    script(THREE_GPUS);
    // CUDA ordinal 0 under CUDA_VISIBLE_DEVICES=2 is the third GPU in PCI order: bus 9a = NVML 0.
    const byCvd = await oneWindow({ gpu: { cudaOrdinals: [0] }, env: { CUDA_VISIBLE_DEVICES: '2', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' } });
    expect(byCvd.figures.filter((f) => f.scope === 'gpu').map((f) => [f.source, f.joules])).toEqual([
      ['GPU 0 (NVIDIA H200, 0000:9a:00.0)', 0.5],
    ]);
    script(THREE_GPUS);
    const byUuid = await oneWindow({ env: { CUDA_VISIBLE_DEVICES: 'GPU-bbbb0000' } });
    expect(byUuid.gpuJoules).toBe(0.001);
    script(THREE_GPUS);
    const byBus = await oneWindow({ gpu: { busIds: ['0000:19:00.0', '0000:3b:00.0'] }, env: { CUDA_VISIBLE_DEVICES: '0' } });
    expect(byBus.gpuJoules).toBeCloseTo(2.001, 12);
  });

  it('invalidates a window across a counter reset', async () => {
    script('device\nname G\nbus 0000:01:00.0\nuuid GPU-1\nenergy 90000000 1200\n');
    const w = await oneWindow({});
    expect(w.figures[0]).toMatchObject({ status: 'invalid', joules: null });
    expect(w.figures[0]!.reason).toMatch(/went backwards \(90000000 mJ at start, 1200 mJ at end\)/);
    expect(w.gpuJoules).toBeNull();
  });

  it('reports an unsupported device and one the user may not open', async () => {
    script(`device
name Old GPU
bus 0000:01:00.0
uuid GPU-1
energy !3
power !3
device
name Locked
bus 0000:02:00.0
uuid GPU-2
handle_error 4
`);
    const rows = await describeEnergySensors({ nvml: provider, nvmlLibrary: lib, raplRoot: noRapl, env: {} });
    const gpus = rows.filter((r) => r.scope === 'gpu');
    expect(gpus[0]).toMatchObject({ status: 'unavailable', source: 'GPU 0 (Old GPU, 0000:01:00.0)' });
    expect(gpus[0]!.reason).toBe(
      'energy counter unavailable (Not Supported (NVML error 3): not supported on this GPU); power unavailable (Not Supported (NVML error 3): not supported on this GPU)',
    );
    expect(gpus[1]).toMatchObject({ status: 'unavailable', source: 'GPU 1 (unknown GPU, bus id unknown)' });
    expect(gpus[1]!.reason).toMatch(/Insufficient Permissions \(NVML error 4\): no permission to query this GPU/);
    const s = provider.open(lib);
    expect(s.devices()[1]!.errors.handle).toMatch(/Insufficient Permissions/);
    s.close();
  });

  it('integrates power when the library lacks the energy-counter function', async () => {
    script('device\nname Pascal\nbus 0000:01:00.0\nuuid GPU-1\npower 100000\n');
    const s = provider.open(libNoEnergy);
    expect(s.missingFunctions).toEqual(['nvmlDeviceGetTotalEnergyConsumption']);
    s.close();
    script('device\nname Pascal\nbus 0000:01:00.0\nuuid GPU-1\npower 100000\n');
    const m = await createEnergyMonitor({ nvml: provider, nvmlLibrary: libNoEnergy, raplRoot: noRapl, sampleHz: 20, env: {} });
    await m.startWindow('w');
    await new Promise((r) => setTimeout(r, 300));
    const w = await m.stopWindow();
    await m.close();
    const g = w.figures[0]!;
    expect(g).toMatchObject({ method: 'integrated', status: 'ok' });
    expect(g.reason).toMatch(new RegExp(`^energy counter unavailable \\(nvmlDeviceGetTotalEnergyConsumption is not in '${libNoEnergy}' \\(driver too old\\?\\)\\); power integrated over \\d+ samples`));
    expect(g.joules!).toBeGreaterThan(100 * w.seconds * 0.9);
    expect(g.joules!).toBeLessThan(100 * w.seconds * 1.1);
    expect(m.timeline().length).toBeGreaterThan(2);
  });

  it('explains initialisation failures, with and without nvmlErrorString', async () => {
    script('init_error 9\n');
    const err = (() => {
      try {
        provider.open(lib);
      } catch (e) {
        return e as NvmlOpenError;
      }
      throw new Error('open succeeded');
    })();
    expect(err).toBeInstanceOf(NvmlOpenError);
    expect(err.code).toBe('NVML_INIT_FAILED');
    expect(err.nvmlReturn).toBe(9);
    expect(err.message).toBe(
      `NVML initialisation failed in '${lib}': Driver Not Loaded (NVML error 9): the NVIDIA kernel driver is not loaded (no GPU here, or the driver is not installed)`,
    );
    script('init_error 18\n');
    expect(() => provider.open(libNoErrorString)).toThrow(
      /RM has detected an NVML\/RM version mismatch \(NVML error 18\): libnvidia-ml and the kernel driver have different versions/,
    );
    script('init_error 9\n');
    const rows = await describeEnergySensors({ nvml: provider, nvmlLibrary: lib, raplRoot: noRapl });
    expect(rows[0]).toMatchObject({ scope: 'gpu', status: 'unavailable' });
    expect(rows[0]!.reason).toMatch(/^unavailable: NVML initialisation failed/);
  });

  it('uses the project addon by default (src/native loadAddon)', async () => {
    script(THREE_GPUS);
    const rows = await describeEnergySensors({ nvmlLibrary: lib, raplRoot: noRapl, env: {} });
    if (from.endsWith(join('build', 'Release', 'aeb.node'))) {
      expect(rows.filter((r) => r.scope === 'gpu').map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    } else {
      expect(rows[0]!.reason).toMatch(/^unavailable: native addon (not built|lacks the nvml\* functions)/);
    }
  });

  it('names a library that cannot be loaded, and honours AEB_NVML_LIBRARY', () => {
    const missing = join(dir, 'nope', 'libnvidia-ml.so.1');
    expect(() => provider.open(missing)).toThrow(
      new RegExp(`NVML library '${missing}' could not be loaded \\(.*No such file.*\\): is the NVIDIA driver installed\\? Set AEB_NVML_LIBRARY`),
    );
    const notNvml = join(dir, 'libnotnvml.so');
    writeFileSync(join(dir, 'x.c'), 'int x(void) { return 0; }\n');
    execFileSync('cc', ['-shared', '-fPIC', '-o', notNvml, join(dir, 'x.c')]);
    expect(() => provider.open(notNvml)).toThrow(
      /is not a usable NVML library: it lacks nvmlInit_v2, nvmlShutdown, nvmlDeviceGetCount_v2, nvmlDeviceGetHandleByIndex_v2$/,
    );
    script(THREE_GPUS);
    process.env.AEB_NVML_LIBRARY = lib;
    const s = provider.open();
    expect(s.libraryPath).toBe(lib);
    expect(s.devices()).toHaveLength(3);
    s.close();
  });
});
