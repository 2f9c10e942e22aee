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
