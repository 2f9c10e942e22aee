// Goodput (measurement.md): requests meeting every configured SLO, per second of the measured
// phase. A failed request never meets an SLO; a request whose value for an SLO'd metric is
// unknown does not meet it either (e.g. no TTFT), except TPOT of a one-token answer, which
// is undefined rather than slow and so does not count against it.

import type { RequestRecord } from '../backends/types.js';

export interface SloTargets {
  ttft_ms: number | null;
  tpot_ms: number | null;
  e2e_ms: number | null;
}

export interface GoodputSummary {
  slo: SloTargets;
  /** Measured requests (failed included) that met every target. */
  requests_meeting_slo: number;
  /** requests_meeting_slo / measured requests (failed included). */
  attainment: number | null;
  /** requests_meeting_slo / measured duration (s). */
  goodput_requests_per_second: number | null;
  /** How many requests missed each target (a request can miss several). */
  missed: { ttft: number; tpot: number; e2e: number; failed: number };
}

export function hasSlo(slo: SloTargets | null | undefined): slo is SloTargets {
  return !!slo && (slo.ttft_ms !== null || slo.tpot_ms !== null || slo.e2e_ms !== null);
}

function within(value: number | null, target: number | null): boolean {
  return target === null || (value !== null && value <= target);
}

export function evaluateGoodput(records: readonly RequestRecord[], slo: SloTargets, durationSeconds: number): GoodputSummary {
  const missed = { ttft: 0, tpot: 0, e2e: 0, failed: 0 };
  let meeting = 0;
  for (const r of records) {
    if (!r.success) {
      missed.failed++;
      continue;
    }
    const oneToken = r.completionTokens !== null && r.completionTokens <= 1;
    const ttftOk = within(r.ttftMs, slo.ttft_ms);
    const tpotOk = (oneToken && r.tpotMs === null) || within(r.tpotMs, slo.tpot_ms);
    const e2eOk = within(r.e2eMs, slo.e2e_ms);
    if (!ttftOk) missed.ttft++;
    if (!tpotOk) missed.tpot++;
    if (!e2eOk) missed.e2e++;
    if (ttftOk && tpotOk && e2eOk) meeting++;
  }
  return {
    slo,
    requests_meeting_slo: meeting,
    attainment: records.length ? meeting / records.length : null,
    goodput_requests_per_second: durationSeconds > 0 ? meeting / durationSeconds : null,
    missed,
  };
}
