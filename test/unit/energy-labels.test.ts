// The energy cells of master_results.csv carry one label (energy_scope/energy_method, of the
// primary figure): a cell is written only when that label is true of it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendDescription, RequestRecord } from '../../src/backends/types.js';
import { createEnergyMonitor, type EnergyMonitorOptions } from '../../src/energy/monitor.js';
import { COUNTER_UPDATE_PERIOD_S } from '../../src/energy/gpu-probe.js';
import type { EnergyWindowResult } from '../../src/energy/types.js';
import { buildMasterRow } from '../../src/results/master-csv.js';
import { buildSummary } from '../../src/runner/summary.js';
import { memoryNvml } from '../fixtures/fake-nvml/harness.js';

const rec: RequestRecord = {
  index: 0, success: true, startNs: 0n, endNs: 1_000_000_000n, queueMs: 0, ttftMs: 100, ttfoMs: 100, ttstMs: 10, e2eMs: 900, tpotMs: 10,
  itlMs: [10], iclMs: [10], promptTokens: 10, completionTokens: 80, tokenCountSource: 'usage', text: '',
};
const id = { modelName: 'm', device: null };
const summarise = (energy: EnergyWindowResult, backend?: BackendDescription) => buildSummary({
  records: [rec, { ...rec, index: 1 }], plannedPrompts: 2, warmupRequests: 0, durationSeconds: 2, stopReason: null, cancelledInFlight: 0,
  energy, idle: null, emissions: null, ...(backend ? { backend } : {}),
});
const server = (endpoint: string): BackendDescription => ({ backend: 'openai', model: 'm', details: { endpoint } });

let noRapl: string;
beforeAll(async () => { noRapl = await mkdtemp(join(tmpdir(), 'aeb-norapl-')); });
afterAll(async () => { await rm(noRapl, { recursive: true }); });

/** One window of a real monitor: GPU 0 draws 360 J (counter); the CPU is estimated from 36 busy core-seconds. */
async function gpuWindow(opts: Partial<EnergyMonitorOptions> = {}): Promise<EnergyWindowResult> {
  const nvml = memoryNvml([{ name: 'NVIDIA H200', busId: '00000000:19:00.0', uuid: 'GPU-0', series: { energyMj: [1_000_000, 1_360_000] } }]);
  let busyMs = 0;
  const m = await createEnergyMonitor({ nvml: nvml.provider, gpu: { deviceIds: [0] }, raplRoot: noRapl, sampleHz: 0, busyCpuMs: () => (busyMs += 36_000), env: {}, ...opts });
  try {
    await m.startWindow('measured');
    await new Promise((r) => setTimeout(r, COUNTER_UPDATE_PERIOD_S * 1000 + 10));
    return await m.stopWindow();
  } finally {
    await m.close();
  }
}

describe('master_results.csv energy cells', () => {
  it('a server on another machine: no client-machine energy in the run\'s columns, scope "client-only (…)"', async () => {
    const w = await gpuWindow();
    const remote = buildMasterRow(id, summarise(w, server('http://10.1.2.3:8000/v1')));
    expect([remote.gpu_energy_wh, remote.cpu_energy_wh, remote.gpu_dynamic_energy_wh, remote.wh_per_1000_queries]).toEqual(['', '', '', '']);
    expect(remote.energy_scope).toBe('client-only (gpu)');
    expect(remote.energy_method).toBe('counter');

    const withDynamic: EnergyWindowResult = { ...w, figures: w.figures.map((f) => (f.scope === 'gpu' ? { ...f, dynamicJoules: 60 } : f)) };
    expect(buildMasterRow(id, summarise(withDynamic, server('http://10.1.2.3:8000/v1'))).gpu_dynamic_energy_wh).toBe('');
    const local = buildMasterRow(id, summarise(withDynamic, server('http://127.0.0.1:8000/v1')));
    expect([local.energy_scope, local.gpu_energy_wh, local.gpu_dynamic_energy_wh, local.wh_per_1000_queries]).toEqual(['gpu', '0.1000', '0.0167', '50.0000']);
  });

  it('a CPU estimate beside a measured GPU figure: not written under energy_method "counter"', async () => {
    const w = await gpuWindow();
    const s = summarise(w);
    expect(s.energy).toMatchObject({ status: 'measured', scope: 'gpu', cpu_joules: 360, cpu_method: 'estimated' });
    const row = buildMasterRow(id, s);
    expect([row.energy_scope, row.energy_method, row.gpu_energy_wh]).toEqual(['gpu', 'counter', '0.1000']);
    expect(row.cpu_energy_wh).toBe('');
  });

  it('writes the CPU figure when RAPL measured it, or when it is the primary (estimated) figure', async () => {
    const rapl: EnergyWindowResult = {
      label: 'measured', startNs: 0n, endNs: 2_000_000_000n, seconds: 2, gpuJoules: 360, cpuJoules: 36,
      figures: [
        { scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0', joules: 360 },
        { scope: 'cpu-package', method: 'counter', status: 'ok', source: 'package-0', joules: 36 },
      ],
    };
    expect(buildMasterRow(id, summarise(rapl)).cpu_energy_wh).toBe('0.0100');

    const cpuOnly = await gpuWindow({ gpu: false });
    const row = buildMasterRow(id, summarise(cpuOnly));
    expect([row.energy_scope, row.energy_method, row.cpu_energy_wh]).toEqual(['estimated-cpu', 'estimated', '0.1000']);
  });
});
