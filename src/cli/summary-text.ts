// Human-readable run summary (aeb run, aeb report): the old headline numbers with the
// failure count beside every average, then the distributions, energy and formulas.
import { decimalOrEmpty } from '../results/format.js';
import type { Distribution } from '../runner/stats.js';
import type { IdleBaseline } from '../energy/types.js';
import type { GoodputSummary } from '../runner/goodput.js';
import { cpuMethodOf, energyScopeLabel, type RunSummary } from '../runner/summary.js';

const num = (v: number | null | undefined, dp: number, unit = '') => (v === null || v === undefined ? 'n/a' : `${v.toFixed(dp)}${unit}`);

/** Like num(), but a nonzero value never prints as zero (the results files' rule: 3 significant digits at least). */
export function small(v: number | null | undefined, dp: number, unit = ''): string {
  return v === null || v === undefined || !Number.isFinite(v) ? num(v, dp, unit) : `${decimalOrEmpty(v, dp)}${unit}`;
}

function distLine(name: string, d: Distribution): string {
  if (d.count === 0) return `  ${name.padEnd(6)} n/a`;
  const f = (v: number | null) => num(v, 2);
  return `  ${name.padEnd(6)} mean ${f(d.mean)}  median ${f(d.median)}  p90 ${f(d.p90)}  p95 ${f(d.p95)}  p99 ${f(d.p99)}  min ${f(d.min)}  max ${f(d.max)}  std ${f(d.std)}  (n=${d.count}) ms`;
}

function idleLine(before: IdleBaseline, after: IdleBaseline | null, drift: Record<string, number> | null): string {
  const parts = Object.entries(before.watts).map(([source, w]) => {
    const a = after?.watts[source];
    const d = drift?.[source];
    return `${source} ${small(w, 1, ' W')}` + (a !== undefined ? ` → ${small(a, 1, ' W')} after (${d !== undefined ? `${d >= 0 ? '+' : ''}${(100 * d).toFixed(1)} %` : 'n/a'})` : '');
  });
  return `  idle baseline (${num(before.seconds, 1, ' s')}): ${parts.join('; ') || 'no measured source'}`;
}

function goodputLine(g: GoodputSummary): string {
  const targets = [
    g.slo.ttft_ms !== null ? `TTFT ≤ ${g.slo.ttft_ms} ms` : null,
    g.slo.tpot_ms !== null ? `TPOT ≤ ${g.slo.tpot_ms} ms` : null,
    g.slo.e2e_ms !== null ? `E2E ≤ ${g.slo.e2e_ms} ms` : null,
  ].filter((t) => t !== null);
  const m = g.missed;
  const misses = [m.ttft ? `${m.ttft} TTFT` : '', m.tpot ? `${m.tpot} TPOT` : '', m.e2e ? `${m.e2e} E2E` : '', m.failed ? `${m.failed} failed` : '']
    .filter(Boolean)
    .join(', ');
  return (
    `  goodput: ${num(g.goodput_requests_per_second, 3)} req/s meeting ${targets.join(', ')} ` +
    `(${g.requests_meeting_slo} of the measured requests, ${num(g.attainment === null ? null : 100 * g.attainment, 1)} %)` +
    (misses ? `; missed: ${misses}` : '')
  );
}

export function formatSummary(title: string, s: RunSummary, errorMessage = ''): string {
  const lines = [
    title,
    `  prompts: ${s.successful_prompts}/${s.total_prompts} succeeded, ${s.failed_prompts} failed` +
      (s.warmup_requests ? `; ${s.warmup_requests} warmup excluded` : '') +
      (s.total_prompts < s.planned_prompts ? `; ${s.planned_prompts - s.total_prompts} not run` : ''),
  ];
  if (errorMessage) lines.push(`  ${errorMessage}`);
  for (const [reason, n] of Object.entries(s.failure_reasons)) lines.push(`    ${n} × ${reason}`);
  lines.push(
    `  duration ${num(s.total_duration_seconds, 2, ' s')}; avg total time ${num(s.avg_total_time, 4, ' s')}; avg TTFT ${num(s.avg_time_to_first_token, 4, ' s')} (over ${s.successful_prompts} successful, ${s.failed_prompts} failed)`,
    `  tokens: ${s.total_tokens ?? 'n/a'} (prompt ${s.total_prompt_tokens ?? 'n/a'}, completion ${s.total_completion_tokens ?? 'n/a'}); ` +
      `${num(s.throughput_tokens_per_second, 2)} tok/s total, ${num(s.output_tokens_per_second, 2)} output tok/s, ${num(s.requests_per_second, 3)} req/s`,
    distLine('TTFT', s.ttft_ms), distLine('TTFO', s.ttfo_ms), distLine('TPOT', s.tpot_ms), distLine('ITL', s.itl_ms), distLine('E2E', s.e2e_ms),
  );
  // Client-side waiting for a load slot or past a scheduled arrival: outside every timing above.
  if ((s.queue_ms?.max ?? 0) > 1) lines.push(distLine('queue', s.queue_ms));
  if (s.ttft_slack_ms?.count) {
    // Absent in report.json files written before it existed.
    const d = s.ttft_slack_ms;
    lines.push(
      `  TTFT stamp slack (client busy when bytes may have arrived; upper bound): median ${num(d.median, 3)}  p99 ${num(d.p99, 3)}  max ${num(d.max, 3)} ms; ${s.ttft_slack_over_5ms} request(s) over 5 ms`,
    );
  }
  if (s.goodput) lines.push(goodputLine(s.goodput));
  if (s.tokens_per_chunk !== null && s.tokens_per_chunk > 1.05)
    lines.push(`  note: ${s.tokens_per_chunk.toFixed(2)} tokens per chunk: ITL splits chunk gaps evenly over their tokens`);
  const e = s.energy;
  const scope = energyScopeLabel(e);
  if (e.status === 'measured' || e.status === 'estimated') {
    // The method in brackets is the primary figure's; a CPU estimate beside a measured GPU
    // figure says so itself (report.json files written before cpu_method: from the figures).
    const cpuEstimated = (e.cpu_method ?? cpuMethodOf(e.figures, e.cpu_joules)) === 'estimated';
    const wh = (j: number | null) => small(j === null ? null : j / 3600, 4, ' Wh');
    lines.push(
      `  energy (${scope}, ${e.method}, window ${num(e.window_seconds, 2, ' s')}): GPU ${wh(e.gpu_joules)}, CPU ${wh(e.cpu_joules)}${cpuEstimated ? ' (estimated)' : ''}; ` +
        `${small(s.wh_per_1000_queries, 4)} Wh/1000 queries, ${small(s.tokens_per_joule, 4)} tokens/J, CO2 ${small(s.co2_emissions_g, 4, ' g')}` +
        (s.emissions?.source ? ` (${s.emissions.source})` : ''),
    );
  } else if (e.status === 'invalid') {
    lines.push(`  energy (${scope}): INVALID window, no energy figures reported`);
  } else if (e.window_seconds === null && e.figures.length === 0) {
    lines.push('  energy: not measured (metrics disabled: --no-energy or metrics.enabled=false)');
  } else {
    lines.push('  energy: unavailable (no sensor measured this run)');
  }
  if (e.idle_baseline) lines.push(idleLine(e.idle_baseline, e.idle_baseline_after ?? null, e.idle_drift ?? null));
  if (e.status !== 'unavailable')
    for (const f of e.figures) lines.push(`    ${f.source}: ${f.status === 'ok' ? `${small(f.joules, 2)} J` : f.status}${f.reason ? ` (${f.reason})` : ''}`);
  return lines.join('\n');
}

interface LatencyLine { metric: string; count: number; meanMs: number | null; p50Ms: number | null; p99Ms: number | null }

/**
 * Server-reported latencies (vLLM /metrics histogram deltas over the measured phase) and the
 * client's calibrated floor, printed under the client's own figures. Both are optional.
 */
export function formatServerSide(serverMetrics: unknown, clientCalibration: unknown): string {
  const lines: string[] = [];
  const sm = serverMetrics as { reset?: boolean; unavailable?: string | null; summary?: Record<string, LatencyLine | null> } | null;
  if (sm?.reset) lines.push(`  server metrics: not available for this run: ${sm.unavailable ?? 'a counter went backwards (server restarted?)'}`);
  else if (sm?.summary) {
    for (const [name, l] of Object.entries(sm.summary)) {
      if (l && l.count > 0)
        lines.push(`  server ${name.toUpperCase().padEnd(5)} mean ${num(l.meanMs, 2)}  p50 ${num(l.p50Ms, 2)}  p99 ${num(l.p99Ms, 2)}  (n=${l.count}, ${l.metric}) ms`);
    }
  }
  const cal = clientCalibration as { clientAddedTtftMs?: { p50: number | null; p99: number | null } } | null;
  if (cal?.clientAddedTtftMs)
    lines.push(`  client floor: adds ${num(cal.clientAddedTtftMs.p50, 3)} ms TTFT at p50, ${num(cal.clientAddedTtftMs.p99, 3)} ms at p99 (loopback calibration)`);
  return lines.join('\n');
}
