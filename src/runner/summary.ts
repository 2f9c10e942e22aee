// Run summary: the old system's keys (seconds, same names) plus the new statistics.
// Averages are over successful measured requests and always sit beside the failure count;
// anything not observed is null (never a fake 0). Formulas are listed in SUMMARY_FORMULAS
// and printed in reports, because tools disagree on names.
import type { BackendDescription, RequestRecord, TokenCountSource } from '../backends/types.js';
import { remoteServerHost } from '../energy/boundary.js';
import { NO_LOCAL_GPU_SOURCE, type EnergyFigure, type EnergyWindowResult, type IdleBaseline } from '../energy/types.js';
import { describeLoadPlan, type LoadPlan } from '../load/plan.js';
import { describe, mean, type Distribution } from './stats.js';
import { pyFixed } from '../results/format.js';
import { evaluateGoodput, hasSlo, type GoodputSummary, type SloTargets } from './goodput.js';

export interface EmissionsFigure {
  grams: number;
  /** g CO2e per kWh used. */
  intensityGPerKwh?: number | null;
  /** Where the intensity came from (country/region, dataset). */
  source?: string;
}

export interface EnergySummary {
  /**
   * 'measured': the primary figure comes from sensors (GPU counter or integrated power, RAPL);
   * 'estimated': it is, or includes, a model (the CPU-time estimate) — never called measured;
   * 'invalid': a sensor exists but its window cannot be trusted (counter reset, failed read);
   * 'unavailable': nothing measured or estimated the run.
   */
  status: 'measured' | 'estimated' | 'invalid' | 'unavailable';
  /** What the primary figure covers, e.g. 'gpu' or 'cpu-package+dram'. */
  scope: string | null;
  /** 'counter' | 'integrated' | 'estimated' (mixed methods joined with '+'). */
  method: string | null;
  window_seconds: number | null;
  gpu_joules: number | null;
  gpu_dynamic_joules: number | null;
  cpu_joules: number | null;
  /**
   * How cpu_joules was obtained: 'rapl' (package + DRAM counters) or 'estimated' (CPU time ×
   * watts per core). `method` describes the primary figure only, so this labels the CPU one.
   */
  cpu_method: 'rapl' | 'estimated' | null;
  /**
   * Joules behind the derived per-query/per-token figures (GPU when measured, else CPU); null
   * when there is none, or when the figures do not cover the work (covers_workload false).
   */
  primary_joules: number | null;
  /**
   * False when the model runs on a server on another machine and no sensor here is attributed
   * to it: the figures are then the client machine's only, and no efficiency is derived.
   */
  covers_workload: boolean;
  /**
   * Window end − dispatch of the last measured request: the ramp-down, when requests only
   * finish, inside the window (null: unknown).
   */
  ramp_down_seconds: number | null;
  /** What a reader of the energy figures must know (e.g. they are the client machine's). */
  warnings: string[];
  figures: EnergyFigure[];
  /** Idle power before the measured phase; dynamic energy subtracts this one. */
  idle_baseline: IdleBaseline | null;
  /** The same measurement after the measured phase (null: not taken). */
  idle_baseline_after: IdleBaseline | null;
  /** Per source: idle watts after ÷ before − 1 (how far the baseline drifted over the run). */
  idle_drift: Record<string, number> | null;
}

export interface RunSummary {
  // ---- old keys (seconds) ----
  total_prompts: number;
  successful_prompts: number;
  failed_prompts: number;
  total_duration_seconds: number;
  /** Old name of avg_total_time, kept for readers of the old JSON. */
  avg_latency_seconds: number | null;
  avg_total_time: number | null;
  avg_time_to_first_token: number | null;
  total_tokens: number | null;
  total_prompt_tokens: number | null;
  total_completion_tokens: number | null;
  throughput_tokens_per_second: number | null;
  gpu_energy_wh: number | null;
  wh_per_1000_queries: number | null;
  co2_emissions_g: number | null;
  tokens_per_joule: number | null;
  avg_energy_per_prompt_wh: number | null;
  // ---- new ----
  planned_prompts: number;
  warmup_requests: number;
  /** null = ran to the end; otherwise why it stopped ('interrupted', 'consecutive_failures: …'). */
  stop_reason: string | null;
  /** Requests an interrupt cut short (measured ones are also in the records, as failed). */
  cancelled_in_flight: number;
  failure_rate: number | null;
  failure_reasons: Record<string, number>;
  /** Distributions in ms over successful requests. */
  ttft_ms: Distribution;
  ttfo_ms: Distribution;
  ttst_ms: Distribution;
  tpot_ms: Distribution;
  itl_ms: Distribution;
  icl_ms: Distribution;
  e2e_ms: Distribution;
  total_time_ms: Distribution;
  queue_ms: Distribution;
  /**
   * Upper bound on how late each successful request's TTFT stamp can be because the client
   * was busy (HTTP backends; count 0 where not measured), and how many exceed 5 ms.
   */
  ttft_slack_ms: Distribution;
  ttft_slack_over_5ms: number;
  output_tokens_per_second: number | null;
  requests_per_second: number | null;
  output_tokens_per_joule: number | null;
  /** Tokens per chunk > 1 means ITL is split evenly inside chunks (HTTP). */
  tokens_per_chunk: number | null;
  token_count_sources: Partial<Record<TokenCountSource, number>>;
  energy: EnergySummary;
  emissions: EmissionsFigure | null;
  /** Requests meeting every SLO of the config's `slo` section; null when none is set. */
  goodput: GoodputSummary | null;
}

export interface SummaryInput {
  /** Measured records (warmup excluded; measured requests an interrupt cut short are in, as failed). */
  records: readonly RequestRecord[];
  plannedPrompts: number;
  warmupRequests: number;
  /** First measured dispatch → last completion, seconds. */
  durationSeconds: number;
  stopReason: string | null;
  cancelledInFlight: number;
  energy: EnergyWindowResult | null;
  idle: IdleBaseline | null;
  /** Idle baseline measured again after the run (optional). */
  idleAfter?: IdleBaseline | null;
  emissions: EmissionsFigure | null;
  /** Service-level objectives for goodput (none set: no goodput figure). */
  slo?: SloTargets | null;
  /**
   * The backend as opened. Its `details.endpoint` tells whether a server is on this machine
   * (loopback) or another one, whose energy no sensor here covers. Absent: the work is taken
   * to run on this machine.
   */
  backend?: BackendDescription | null;
  /** How requests were issued and when the last measured one was dispatched (ramp-down label). */
  load?: LoadPlan | null;
  lastDispatchNs?: bigint | null;
}

export const SUMMARY_FORMULAS: Record<string, string> = {
  avg_total_time: 'mean over successful requests of (request end − request start), s',
  avg_time_to_first_token: 'mean over successful requests of (first content-bearing token/event − start), s; reasoning counts',
  ttfo: 'first answer (non-reasoning) token − start',
  tpot: '(E2E − TTFT) / (completion_tokens − 1), per request',
  itl: 'gap between tokens; an inter-chunk gap is split evenly over the tokens in the chunk',
  e2e: 'last content-bearing event − start',
  throughput_tokens_per_second: '(prompt + completion tokens of successful requests) / duration',
  output_tokens_per_second: 'completion tokens of successful requests / duration',
  requests_per_second: 'successful requests / duration',
  duration: 'first measured dispatch → last completion (warmup excluded)',
  wh_per_1000_queries: 'primary energy (Wh) / measured requests (failed included) × 1000',
  avg_energy_per_prompt_wh: 'primary energy (Wh) / measured requests (failed included)',
  tokens_per_joule: '(prompt + completion tokens) / primary energy (J)',
  output_tokens_per_joule: 'completion tokens / primary energy (J)',
  co2_emissions_g: 'primary energy (kWh) × grid carbon intensity (g CO2e/kWh)',
  ramp_down_seconds: 'energy window end − dispatch of the last measured request (the tail where requests only finish; inside the window, so in the per-query energy)',
  goodput: 'measured requests meeting every set SLO (TTFT, TPOT, E2E ≤ target; failed requests never do) / duration',
  primary_energy: 'GPU board energy of the GPUs doing the work when measured, else CPU package (+DRAM), else the CPU-time estimate (status "estimated"); none for a server on another machine unless GPUs of this machine are attributed to it',
};

const msToS = (v: number | null) => (v === null ? null : v / 1000);
const div = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

/** Sum of a nullable count over records; null when any record lacks it. */
function sumKnown(records: readonly RequestRecord[], pick: (r: RequestRecord) => number | null | undefined): number | null {
  let s = 0;
  for (const r of records) {
    const v = pick(r);
    if (v === null || v === undefined) return null;
    s += v;
  }
  return s;
}

/** Relative change of each source's idle power from before to after the run. */
/** Idle power that moved more than this share between the baselines before and after the run is worth a warning. */
const IDLE_DRIFT_WARN = 0.3;

function idleDrift(before: IdleBaseline | null, after: IdleBaseline | null): Record<string, number> | null {
  if (before === null || after === null) return null;
  const out: Record<string, number> = {};
  for (const [source, w] of Object.entries(before.watts)) {
    const a = after.watts[source];
    if (a !== undefined && w > 0) out[source] = a / w - 1;
  }
  return out;
}

/** Why no efficiency is derived from figures that cover only the client machine. */
function clientOnlyWarning(scope: string | null, serverHost: string): string {
  return `energy figures (${scope ?? 'none'}) are this client machine's, not the server's at ${serverHost}: no sensor here ` +
    'sees the server, so gpu_energy_wh, wh_per_1000_queries, avg_energy_per_prompt_wh, tokens_per_joule, output_tokens_per_joule and ' +
    'co2_emissions_g are left empty, as are cpu_energy_wh and gpu_dynamic_energy_wh in the results CSV (energy_scope ' +
    `client-only); the client's figures stay in the energy section (measure on the server's machine, against a loopback endpoint)`;
}

/** How a CPU total was obtained: RAPL when a package counter was read, else the estimate. */
export function cpuMethodOf(figures: readonly EnergyFigure[], cpuJoules: number | null): EnergySummary['cpu_method'] {
  if (cpuJoules === null) return null;
  const ok = (scope: EnergyFigure['scope']) => figures.some((f) => f.scope === scope && f.status === 'ok');
  return ok('cpu-package') ? 'rapl' : ok('estimated-cpu') ? 'estimated' : null;
}

/**
 * The energy scope as results files show it: prefixed `client-only` when the figures are this
 * client machine's and not the server's (covers_workload false); null when there is none.
 */
export function energyScopeLabel(e: Pick<EnergySummary, 'scope' | 'covers_workload'>): string | null {
  if (e.scope === null) return null;
  return e.covers_workload === false ? `client-only (${e.scope})` : e.scope;
}

/**
 * A server on this machine (loopback endpoint) whose GPUs were not named (backend.device_ids):
 * only CPU figures exist, and the efficiency figures derived from them would read as the run's.
 */
function unmeteredLocalServerWarning(backend: BackendDescription | null | undefined, scope: string | null): string | null {
  const endpoint = backend?.details?.['endpoint'];
  if (typeof endpoint !== 'string' || remoteServerHost(backend) !== null) return null;
  return `the server at ${endpoint} runs on this machine, but no GPU of it was metered (backend.device_ids not set): ` +
    `if it serves the model from GPUs, their energy is missing and the figures (${scope ?? 'none'}) are the CPU's only; ` +
    'set backend.device_ids to the GPUs it uses (nvidia-smi indices)';
}

/** Share of the window above which its ramp-down is worth a warning. */
const RAMP_DOWN_WARN_SHARE = 0.1;

function rampDownSeconds(window: EnergyWindowResult | null, lastDispatchNs: bigint | null): number | null {
  if (window === null || lastDispatchNs === null || lastDispatchNs < window.startNs || lastDispatchNs > window.endNs) return null;
  return Number(window.endNs - lastDispatchNs) / 1e9;
}

const maxInFlight = (load: LoadPlan): number =>
  load.mode === 'sequential' ? 1 : load.mode === 'concurrency' ? load.concurrency : load.maxConcurrency ?? Infinity;

/**
 * The window runs until every measured request has finished, so its tail has fewer requests
 * in flight than the load keeps in steady state. Not cut (that energy was spent on the
 * queries), but said when it is a sizeable share of a window whose load runs several at once.
 */
function rampDownWarning(rampDown: number | null, windowSeconds: number, load: LoadPlan | null): string | null {
  if (rampDown === null || load === null || maxInFlight(load) <= 1 || !(windowSeconds > 0)) return null;
  const share = rampDown / windowSeconds;
  if (share <= RAMP_DOWN_WARN_SHARE) return null;
  return `ramp-down: ${(100 * share).toFixed(1)} % of the energy window (${rampDown.toFixed(3)} s of ${windowSeconds.toFixed(3)} s) ` +
    `came after the last measured request was dispatched, with fewer requests in flight than the load's maximum ` +
    `(${describeLoadPlan(load)}) while the last ones finished; the per-query energy figures (wh_per_1000_queries, ` +
    'avg_energy_per_prompt_wh, tokens_per_joule, output_tokens_per_joule) include it';
}

/**
 * GPU and CPU totals come from the window (the monitor nulls a total when one of its parts
 * is invalid: a partial sum would understate). The primary figure is the GPU one whenever a
 * GPU sensor exists, even when its window is invalid: falling back to the CPU figure would
 * silently change what wh_per_1000_queries means. A server on another machine is covered by
 * no sensor of this machine: then there is no primary figure.
 */
function summariseEnergy(input: SummaryInput): EnergySummary {
  const window = input.energy;
  const idle = input.idle;
  const idleAfter = input.idleAfter ?? null;
  const figures = window?.figures ?? [];
  const present = (f: EnergyFigure) => f.status !== 'unavailable';
  const gpu = figures.filter((f) => f.scope === 'gpu' && present(f));
  const cpu = figures.filter((f) => f.scope !== 'gpu' && present(f));
  const gpuJoules = window?.gpuJoules ?? null;
  const cpuJoules = window?.cpuJoules ?? null;
  const primary = gpu.length ? gpu : cpu;
  const total = gpu.length ? gpuJoules : cpu.length ? cpuJoules : null;
  const dyn = gpuJoules !== null && gpu.length && gpu.every((f) => typeof f.dynamicJoules === 'number')
    ? gpu.reduce((s, f) => s + (f.dynamicJoules as number), 0)
    : null;
  const uniq = (xs: string[]) => [...new Set(xs)].join('+') || null;
  const scope = uniq(primary.map((f) => f.scope));
  const serverHost = remoteServerHost(input.backend ?? null);
  // A server on another machine runs on that machine's GPUs: none of this machine's sensors
  // (GPUs named by backend.device_ids included: old configs carry device_ids: [0]) see it.
  const coversWorkload = serverHost === null;
  const primaryJoules = coversWorkload ? total : null;
  const rampDown = rampDownSeconds(window, input.lastDispatchNs ?? null);
  const rampWarning = primaryJoules === null ? null : rampDownWarning(rampDown, window?.seconds ?? 0, input.load ?? null);
  const unmeteredGpus = gpu.length === 0 && primary.length > 0 ? unmeteredLocalServerWarning(input.backend, scope) : null;
  // GPUs this run uses that could not be metered, while the primary figure fell back to the CPU.
  const unmeteredRunGpus = figures.filter((f) => f.scope === 'gpu' && f.status === 'unavailable' && f.source !== NO_LOCAL_GPU_SOURCE);
  const fellBack = gpu.length === 0 && primary.length > 0 && unmeteredRunGpus.length > 0
    ? `GPU energy unavailable for ${unmeteredRunGpus.map((f) => `${f.source} (${f.reason ?? 'no reason given'})`).join(', ')}: ` +
      `the energy figures are the CPU's (${scope}), not the GPU's`
    : null;
  const drift = idleDrift(idle, idleAfter);
  const drifted = Object.entries(drift ?? {}).filter(([, d]) => Math.abs(d) > IDLE_DRIFT_WARN);
  const driftWarning = drifted.length > 0
    ? `idle power after the run differs from before by ${drifted.map(([source, d]) => `${(100 * d).toFixed(0)} % (${source})`).join(', ')}: ` +
      'the idle baseline moved, so energy above idle is uncertain'
    : null;
  const belowIdle = dyn !== null && dyn < 0
    ? `GPU energy above idle is negative (${dyn.toFixed(3)} J): the measured phase drew less than the idle baseline; treat gpu_dynamic_energy_wh as noise`
    : null;
  return {
    status: total === null
      ? (primary.length ? 'invalid' : 'unavailable')
      : primary.some((f) => f.method === 'estimated') ? 'estimated' : 'measured',
    scope,
    method: uniq(primary.map((f) => f.method)),
    window_seconds: window?.seconds ?? null,
    gpu_joules: gpuJoules,
    gpu_dynamic_joules: dyn,
    cpu_joules: cpuJoules,
    cpu_method: cpuMethodOf(figures, cpuJoules),
    primary_joules: primaryJoules,
    covers_workload: coversWorkload,
    ramp_down_seconds: rampDown,
    warnings: [
      ...(!coversWorkload && primary.length ? [clientOnlyWarning(scope, serverHost!)] : []),
      ...(rampWarning === null ? [] : [rampWarning]),
      ...(unmeteredGpus === null ? [] : [unmeteredGpus]),
      ...(fellBack === null ? [] : [fellBack]),
      ...(belowIdle === null ? [] : [belowIdle]),
      ...(driftWarning === null ? [] : [driftWarning]),
    ],
    figures,
    idle_baseline: idle,
    idle_baseline_after: idleAfter,
    idle_drift: drift,
  };
}

/**
 * Stamp slack worth a count and a warning. The slack is an upper bound that includes a turn
 * or two of the client's own work (0.5-1.5 ms per turn on a 2-vCPU VM even at concurrency 1),
 * so a 1 ms threshold would flag calm runs.
 */
const SLACK_WARN_MS = 5;

export function buildSummary(input: SummaryInput): RunSummary {
  const { records } = input;
  const ok = records.filter((r) => r.success);
  const failed = records.length - ok.length;
  const duration = input.durationSeconds;
  const perSecond = (n: number | null) => (duration > 0 ? div(n, duration) : null);

  const promptTokens = sumKnown(ok, (r) => r.promptTokens);
  const completionTokens = sumKnown(ok, (r) => r.completionTokens);
  const totalTokens = promptTokens === null || completionTokens === null ? null : promptTokens + completionTokens;

  const failureReasons: Record<string, number> = {};
  for (const r of records) {
    if (r.success) continue;
    const key = (r.error ?? 'unknown error').slice(0, 200);
    failureReasons[key] = (failureReasons[key] ?? 0) + 1;
  }
  const sources: Partial<Record<TokenCountSource, number>> = {};
  for (const r of ok) sources[r.tokenCountSource] = (sources[r.tokenCountSource] ?? 0) + 1;

  const totalTimeMs = ok.map((r) => Number(r.endNs - r.startNs) / 1e6);
  const itl = ok.flatMap((r) => r.itlMs);
  const icl = ok.flatMap((r) => r.iclMs);
  const chunks = ok.reduce((s, r) => s + r.iclMs.length + (r.ttftMs !== null ? 1 : 0), 0);

  const energy = summariseEnergy(input);
  const primaryWh = energy.primary_joules === null ? null : energy.primary_joules / 3600;
  const perQuery = records.length ? div(primaryWh, records.length) : null;
  // Emissions of energy that does not cover the work would read as the run's: none then.
  const emissions = energy.covers_workload ? input.emissions : null;
  const avgTotal = msToS(mean(totalTimeMs));
  const ttft = describe(ok.map((r) => r.ttftMs));

  return {
    total_prompts: records.length,
    successful_prompts: ok.length,
    failed_prompts: failed,
    total_duration_seconds: duration,
    avg_latency_seconds: avgTotal,
    avg_total_time: avgTotal,
    avg_time_to_first_token: msToS(ttft.mean),
    total_tokens: totalTokens,
    total_prompt_tokens: promptTokens,
    total_completion_tokens: completionTokens,
    throughput_tokens_per_second: perSecond(totalTokens),
    // The legacy column means the run's GPU energy: never the client machine's (kept in energy).
    gpu_energy_wh: energy.gpu_joules === null || !energy.covers_workload ? null : energy.gpu_joules / 3600,
    wh_per_1000_queries: perQuery === null ? null : perQuery * 1000,
    co2_emissions_g: emissions?.grams ?? null,
    tokens_per_joule: div(totalTokens, energy.primary_joules),
    avg_energy_per_prompt_wh: perQuery,
    planned_prompts: input.plannedPrompts,
    warmup_requests: input.warmupRequests,
    stop_reason: input.stopReason,
    cancelled_in_flight: input.cancelledInFlight,
    failure_rate: records.length ? failed / records.length : null,
    failure_reasons: failureReasons,
    ttft_ms: ttft,
    ttfo_ms: describe(ok.map((r) => r.ttfoMs)),
    ttst_ms: describe(ok.map((r) => r.ttstMs)),
    tpot_ms: describe(ok.map((r) => r.tpotMs)),
    itl_ms: describe(itl),
    icl_ms: describe(icl),
    e2e_ms: describe(ok.map((r) => r.e2eMs)),
    total_time_ms: describe(totalTimeMs),
    queue_ms: describe(records.map((r) => r.queueMs)),
    ttft_slack_ms: describe(ok.map((r) => r.ttftSlackMs)),
    ttft_slack_over_5ms: ok.filter((r) => (r.ttftSlackMs ?? 0) > SLACK_WARN_MS).length,
    output_tokens_per_second: perSecond(completionTokens),
    requests_per_second: perSecond(ok.length),
    output_tokens_per_joule: div(completionTokens, energy.primary_joules),
    tokens_per_chunk: chunks > 0 && completionTokens !== null ? completionTokens / chunks : null,
    token_count_sources: sources,
    energy,
    emissions,
    goodput: hasSlo(input.slo) ? evaluateGoodput(records, input.slo, duration) : null,
  };
}

/** The old system's error_message for partial failures (with its warning above 5%). */
export function partialFailureMessage(failed: number, total: number): string | null {
  if (failed <= 0 || total <= 0) return null;
  const pct = (failed / total) * 100;
  // Python's f"{pct:.1f}", as the old system wrote it (1/16 → 6.2 %, ties to even).
  let msg = `PARTIAL FAILURE: ${failed}/${total} prompts failed (${pyFixed(pct, 1)}%)`;
  if (pct > 5) msg += ' - WARNING: failure rate exceeds 5%, results may not be representative';
  return msg;
}

/**
 * A warning when more than 1 % of the first-token stamps may be late by over 5 ms because the
 * client itself was busy (ttft_slack_ms): then the TTFT tail partly measures this client.
 */
export function stampSlackWarning(s: RunSummary): string | null {
  const n = s.ttft_slack_ms.count;
  if (n === 0 || s.ttft_slack_over_5ms * 100 <= n) return null;
  return `${s.ttft_slack_over_5ms} of ${n} first-token stamps may be late by more than ${SLACK_WARN_MS} ms because this client was busy ` +
    `when their bytes may have arrived (ttft_slack_ms p99 ${(s.ttft_slack_ms.p99 ?? 0).toFixed(2)} ms): the TTFT tail partly ` +
    'measures the client; give it spare cores (backend.socket_thread=worker stamps on a thread of its own)';
}
