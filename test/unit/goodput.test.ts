// Goodput: requests meeting every set SLO per second of the measured phase (measurement.md).
import { describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/backends/types.js';
import { formatSummary } from '../../src/cli/summary-text.js';
import { loadConfig } from '../../src/config/load.js';
import { evaluateGoodput, hasSlo } from '../../src/runner/goodput.js';
import { buildSummary } from '../../src/runner/summary.js';

function rec(i: number, o: { ok?: boolean; ttft?: number | null; tpot?: number | null; e2e?: number | null; tokens?: number | null }): RequestRecord {
  const ok = o.ok ?? true;
  return {
    index: i, success: ok, ...(ok ? {} : { error: 'HTTP 503' }), startNs: 0n, endNs: 1_000_000n, queueMs: 0,
    ttftMs: o.ttft === undefined ? 100 : o.ttft, ttfoMs: null, ttstMs: null, e2eMs: o.e2e === undefined ? 500 : o.e2e,
    tpotMs: o.tpot === undefined ? 20 : o.tpot, itlMs: [], iclMs: [], promptTokens: 5, completionTokens: o.tokens === undefined ? 10 : o.tokens,
    tokenCountSource: 'usage', text: '',
  };
}

describe('evaluateGoodput', () => {
  const slo = { ttft_ms: 200, tpot_ms: 30, e2e_ms: null };

  it('counts a request only when it succeeded and met every set target (bounds inclusive)', () => {
    const records = [
      rec(0, {}), // meets
      rec(1, { ttft: 200, tpot: 30 }), // exactly on the targets: meets
      rec(2, { ttft: 250 }), // TTFT miss
      rec(3, { tpot: 31 }), // TPOT miss
      rec(4, { ttft: 300, tpot: 40 }), // both
      rec(5, { ok: false, ttft: null, tpot: null, e2e: null }), // failed
      rec(6, { e2e: 99_999 }), // no E2E target: meets
    ];
    const g = evaluateGoodput(records, slo, 2);
    expect(g.requests_meeting_slo).toBe(3);
    expect(g.attainment).toBeCloseTo(3 / 7, 12);
    expect(g.goodput_requests_per_second).toBe(1.5);
    expect(g.missed).toEqual({ ttft: 2, tpot: 2, e2e: 0, failed: 1 });
  });

  it('an unknown TTFT misses a TTFT target; a one-token answer has no TPOT to miss', () => {
    const g = evaluateGoodput([rec(0, { ttft: null }), rec(1, { tpot: null, tokens: 1 }), rec(2, { tpot: null, tokens: 5 })], slo, 1);
    expect(g.requests_meeting_slo).toBe(1);
    expect(g.missed).toEqual({ ttft: 1, tpot: 1, e2e: 0, failed: 0 });
  });

  it('no records or no duration: rates are null, never 0 by accident', () => {
    expect(evaluateGoodput([], slo, 1).attainment).toBeNull();
    expect(evaluateGoodput([rec(0, {})], slo, 0).goodput_requests_per_second).toBeNull();
    expect(hasSlo({ ttft_ms: null, tpot_ms: null, e2e_ms: null })).toBe(false);
    expect(hasSlo(null)).toBe(false);
  });
});

describe('goodput in the summary and the config', () => {
  const base = { plannedPrompts: 2, warmupRequests: 0, durationSeconds: 4, stopReason: null, cancelledInFlight: 0, energy: null, idle: null, emissions: null };

  it('is null without an SLO and printed with its targets and misses with one', () => {
    const records = [rec(0, {}), rec(1, { e2e: 2_000 })];
    expect(buildSummary({ ...base, records }).goodput).toBeNull();
    const s = buildSummary({ ...base, records, slo: { ttft_ms: null, tpot_ms: null, e2e_ms: 1_000 } });
    expect(s.goodput).toMatchObject({ requests_meeting_slo: 1, attainment: 0.5, goodput_requests_per_second: 0.25 });
    const text = formatSummary('run x', s);
    expect(text).toContain('goodput: 0.250 req/s meeting E2E ≤ 1000 ms (1 of the measured requests, 50.0 %); missed: 1 E2E');
    expect(formatSummary('run x', buildSummary({ ...base, records }))).not.toContain('goodput');
  });

  it('config: slo.* overrides are typed; non-positive targets are rejected naming the key', async () => {
    const { config } = await loadConfig({ overrides: ['slo.ttft_ms=250', 'slo.tpot_ms=40.5'] });
    expect(config.slo).toEqual({ ttft_ms: 250, tpot_ms: 40.5, e2e_ms: null });
    await expect(loadConfig({ overrides: ['slo.e2e_ms=0'] })).rejects.toThrow(/slo\.e2e_ms/);
    await expect(loadConfig({ overrides: ['slo.tpot_m=5'] })).rejects.toThrow(/slo\.tpot_m: unknown key; did you mean slo\.tpot_ms\?/);
    expect((await loadConfig({ overrides: ['slo.ttft_ms=9'] })).warnings).toEqual([]);
  });
});
