import { expect, it } from 'vitest';
import type { RequestRecord } from '../../src/backends/types.js';
import type { EnergyWindowResult } from '../../src/energy/types.js';
import { formatSummary, small } from '../../src/cli/summary-text.js';
import { buildSummary } from '../../src/runner/summary.js';

const rec: RequestRecord = {
  index: 0, success: true, startNs: 0n, endNs: 10_000_000n, queueMs: 0, ttftMs: 2, ttfoMs: 2, ttstMs: null, e2eMs: 10, tpotMs: 2,
  itlMs: [2, 2], iclMs: [2, 2], promptTokens: 3, completionTokens: 3, tokenCountSource: 'engine', text: 'abc',
};

it('never prints a nonzero energy as zero: small values keep 3 significant digits', () => {
  expect(small(0.1 / 3600, 4, ' Wh')).toBe('0.0000278 Wh');
  expect(small(0.0012, 4)).toBe('0.00120');
  expect(small(12.5, 4)).toBe('12.5000');
  expect(small(0, 4, ' Wh')).toBe('0.0000 Wh');
  expect(small(null, 4)).toBe('n/a');

  const energy: EnergyWindowResult = {
    label: 'measured', startNs: 0n, endNs: 10_000_000n, seconds: 0.01,
    figures: [{ scope: 'cpu-package', method: 'counter', status: 'ok', source: 'package-0', joules: 0.1 }],
    gpuJoules: null, cpuJoules: 0.1,
  };
  const s = buildSummary({ records: [rec], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 0.01, stopReason: null, cancelledInFlight: 0, energy, idle: null, emissions: null });
  const text = formatSummary('run', s);
  expect(text).toContain('CPU 0.0000278 Wh');
  expect(text).toContain('package-0: 0.100 J');
  expect(text).not.toMatch(/CPU 0\.0000 Wh/);
});

it('labels a CPU estimate beside a measured GPU figure "(estimated)" in the headline, and client-only figures as such', () => {
  const gpu = { scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0 (NVIDIA H200, 0000:19:00.0)', joules: 360 } as const;
  const window = (cpu: EnergyWindowResult['figures']): EnergyWindowResult => ({
    label: 'measured', startNs: 0n, endNs: 200_000_000n, seconds: 0.2, gpuJoules: 360, cpuJoules: 360, figures: [gpu, ...cpu],
  });
  const headline = (w: EnergyWindowResult, endpoint?: string) => formatSummary('run', buildSummary({
    records: [rec], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 0.2, stopReason: null, cancelledInFlight: 0, energy: w, idle: null, emissions: null,
    ...(endpoint ? { backend: { backend: 'openai', model: 'm', details: { endpoint } } } : {}),
  })).split('\n').find((l) => l.startsWith('  energy ('))!;

  const estimated = window([
    { scope: 'cpu-package', method: 'counter', status: 'unavailable', source: 'RAPL', joules: null, reason: 'unavailable: root-only' },
    { scope: 'estimated-cpu', method: 'estimated', status: 'ok', source: 'system CPU time × 10 W/core', joules: 360 },
  ]);
  expect(headline(estimated)).toMatch(/^ {2}energy \(gpu, counter, window 0\.20 s\): GPU 0\.1000 Wh, CPU 0\.1000 Wh \(estimated\); /);
  const rapl = window([{ scope: 'cpu-package', method: 'counter', status: 'ok', source: 'package-0', joules: 360 }]);
  expect(headline(rapl)).toContain('GPU 0.1000 Wh, CPU 0.1000 Wh; ');
  expect(headline(rapl, 'http://10.1.2.3:8000/v1')).toMatch(/^ {2}energy \(client-only \(gpu\), counter, window 0\.20 s\): GPU 0\.1000 Wh, CPU 0\.1000 Wh; n\/a Wh\/1000 queries/);
});

it('tells a run without energy measurement (metrics disabled) apart from one whose sensors all failed', () => {
  const base = { records: [rec], plannedPrompts: 1, warmupRequests: 0, durationSeconds: 0.01, stopReason: null, cancelledInFlight: 0, idle: null, emissions: null };
  expect(formatSummary('run', buildSummary({ ...base, energy: null }))).toContain('energy: not measured (metrics disabled: --no-energy or metrics.enabled=false)');
  const noSensor: EnergyWindowResult = {
    label: 'measured', startNs: 0n, endNs: 10_000_000n, seconds: 0.01, gpuJoules: null, cpuJoules: null,
    figures: [{ scope: 'cpu-package', method: 'counter', status: 'unavailable', source: 'RAPL', joules: null, reason: 'root-only' }],
  };
  expect(formatSummary('run', buildSummary({ ...base, energy: noSensor }))).toContain('energy: unavailable (no sensor measured this run)');
});

it('shows client queue time (outside every timing) when requests waited, and not when none did', () => {
  const summary = (queueMs: number[]) => buildSummary({
    records: queueMs.map((q, i) => ({ ...rec, index: i, queueMs: q })), plannedPrompts: queueMs.length, warmupRequests: 0,
    durationSeconds: 1, stopReason: null, cancelledInFlight: 0, energy: null, idle: null, emissions: null,
  });
  expect(formatSummary('run', summary([0, 0.2]))).not.toMatch(/^ {2}queue /m);
  expect(formatSummary('run', summary([0, 40, 80]))).toMatch(/^ {2}queue {2}mean 40\.00 .* max 80\.00 .*\(n=3\) ms$/m);
});
