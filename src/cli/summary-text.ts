// Human-readable run summary (aeb run, aeb report): the old headline numbers with the
// failure count beside every average, then the distributions, energy and formulas.
import type { Distribution } from '../runner/stats.js';
import type { RunSummary } from '../runner/summary.js';

const num = (v: number | null | undefined, dp: number, unit = '') => (v === null || v === undefined ? 'n/a' : `${v.toFixed(dp)}${unit}`);

function distLine(name: string, d: Distribution): string {
  if (d.count === 0) return `  ${name.padEnd(6)} n/a`;
  const f = (v: number | null) => num(v, 2);
  return `  ${name.padEnd(6)} mean ${f(d.mean)}  median ${f(d.median)}  p90 ${f(d.p90)}  p95 ${f(d.p95)}  p99 ${f(d.p99)}  min ${f(d.min)}  max ${f(d.max)}  std ${f(d.std)}  (n=${d.count}) ms`;
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
  if (s.tokens_per_chunk !== null && s.tokens_per_chunk > 1.05)
    lines.push(`  note: ${s.tokens_per_chunk.toFixed(2)} tokens per chunk: ITL splits chunk gaps evenly over their tokens`);
  const e = s.energy;
  if (e.status === 'measured') {
    lines.push(
      `  energy (${e.scope}, ${e.method}, window ${num(e.window_seconds, 2, ' s')}): GPU ${num(s.gpu_energy_wh, 4, ' Wh')}, CPU ${num(e.cpu_joules === null ? null : e.cpu_joules / 3600, 4, ' Wh')}; ` +
        `${num(s.wh_per_1000_queries, 4)} Wh/1000 queries, ${num(s.tokens_per_joule, 4)} tokens/J, CO2 ${num(s.co2_emissions_g, 4, ' g')}` +
        (s.emissions?.source ? ` (${s.emissions.source})` : ''),
    );
  } else if (e.status === 'invalid') {
    lines.push(`  energy (${e.scope}): INVALID window, no energy figures reported`);
  } else {
    lines.push('  energy: unavailable (no sensor measured this run)');
  }
  if (e.status !== 'unavailable')
    for (const f of e.figures) lines.push(`    ${f.source}: ${f.status === 'ok' ? `${num(f.joules, 2)} J` : f.status}${f.reason ? ` (${f.reason})` : ''}`);
  return lines.join('\n');
}
