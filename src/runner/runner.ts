// One benchmark run: open backend → idle baseline → warmup (excluded) → measured requests
// under the load plan inside one energy window → summary. The runner never loses finished
// work: a failed request is a record, too many consecutive failures or an interrupt stop
// issuing but everything finished is kept and reported through onRecord as it lands.
import { setMaxListeners } from 'node:events';
import type { Backend, BackendDescription, GenerationSettings, PromptInput, RequestRecord } from '../backends/types.js';
import type { EnergyMonitor, EnergyWindowResult, IdleBaseline } from '../energy/types.js';
import { driveLoad } from '../load/driver.js';
import { validateLoadPlan, type LoadPlan } from '../load/plan.js';
import { nowNs } from '../load/timer.js';
import { buildSummary, stampSlackWarning, type EmissionsFigure, type RunSummary } from './summary.js';
import type { SloTargets } from './goodput.js';

export interface ProgressEvent {
  phase: 'warmup' | 'measured';
  done: number;
  total: number;
  failed: number;
  completionTokens: number;
  elapsedSeconds: number;
}

/**
 * Optional measurements around the run that only some backends offer (the OpenAI/vLLM client):
 * the client's own floor, and the server's latency histograms over the measured phase.
 * Failures become warnings; they never stop a run.
 */
export interface MeasurementProbes {
  /** Runs before the warmup (e.g. client-added TTFT against a loopback emulator). */
  calibrate?(): Promise<unknown>;
  /** Snapshots taken right before and right after the measured phase, then diffed. */
  serverMetrics?: {
    snapshot(): Promise<unknown | null>;
    diff(before: unknown, after: unknown): unknown;
    /** Requests the server counted as finished in a diff (null: it cannot say). */
    countedRequests?(delta: unknown): number | null;
  };
}

/** After-run scrapes while the server's count lags the client's (vLLM records a request's stats just after its last bytes go out). */
const METRICS_SCRAPES = 5;
const METRICS_RESCRAPE_MS = 100;

export interface RunnerOptions {
  backend: Backend;
  /**
   * Called with the backend's description once it is open, before anything is measured: a
   * throw refuses the run as a setup failure (e.g. max_new_tokens beyond the model's context).
   */
  checkOpened?: (description: BackendDescription) => void;
  probes?: MeasurementProbes | null;
  prompts: readonly PromptInput[];
  settings: GenerationSettings;
  load?: LoadPlan;
  /** Requests sent before measuring (cycling through the prompts); recorded with warmup: true. */
  warmupRequests?: number;
  energy?: EnergyMonitor | null;
  /**
   * Idle baseline length before warmup (0 = none; 'auto' = AUTO_IDLE_SECONDS when the monitor
   * measures energy, none when it only estimates).
   */
  idleSeconds?: number | 'auto';
  /** Measure the idle baseline again after the measured phase (not after an interrupt). */
  idleAfter?: boolean;
  /** Stop issuing after this many failures in a row (0 = never). */
  maxConsecutiveFailures?: number;
  /** Aborting = interrupt: stop issuing, cancel in-flight requests, keep everything finished. */
  signal?: AbortSignal;
  /** Called for every settled request (warmup included) in completion order. */
  onRecord?: (record: RequestRecord) => void | Promise<void>;
  onProgress?: (event: ProgressEvent) => void;
  /** Turns the primary energy (J) into emissions for the configured grid. */
  emissions?: (joules: number) => EmissionsFigure | null | Promise<EmissionsFigure | null>;
  /** After an interrupt, how long stopWindow() and close() may take in all before we move on (ms). */
  interruptGraceMs?: number;
  /** SLO targets for goodput (null/absent: none). */
  slo?: SloTargets | null;
}

export interface RunResult {
  description: BackendDescription;
  /** Every settled request (warmup included), in completion order. */
  records: RequestRecord[];
  summary: RunSummary;
  energyWindow: EnergyWindowResult | null;
  idle: IdleBaseline | null;
  interrupted: boolean;
  /** MeasurementProbes.calibrate's figure (null when not offered or failed). */
  clientCalibration: unknown | null;
  /** Server-reported latencies over the measured phase (null when not offered). */
  serverMetrics: unknown | null;
  startedAt: string;
  finishedAt: string;
  warnings: string[];
}

/** Thrown when a run cannot start (no prompts, backend failed to open). */
export class RunSetupError extends Error {
  override name = 'RunSetupError';
}

/** A rate run whose requests went out this late (p99, ms) did not offer the rate it is labelled with. */
const SCHEDULE_LAG_WARN_MS = 10;

function scheduleLagWarning(load: LoadPlan, measured: readonly RequestRecord[]): string | null {
  if (load.mode !== 'rate' || measured.length === 0) return null;
  const lags = measured.map((r) => r.queueMs ?? 0).sort((a, b) => a - b);
  const p99 = lags[Math.min(lags.length - 1, Math.ceil(0.99 * lags.length) - 1)]!;
  if (p99 <= SCHEDULE_LAG_WARN_MS) return null;
  const why = load.maxConcurrency !== undefined ? `the cap of ${load.maxConcurrency} in flight, or a busy client` : 'a busy client';
  return `requests went out up to ${lags[lags.length - 1]!.toFixed(1)} ms after their scheduled arrival (p99 ${p99.toFixed(1)} ms; ${why}): ` +
    `the run did not hold the offered rate of ${load.rate}/s (queue_ms in report.json; TTFT excludes the wait)`;
}

/**
 * The server's own figures for the measured phase, checked against the client's count: scraped
 * again (up to METRICS_SCRAPES times) while the server has counted fewer finished requests
 * than the client saw complete, and a warning when the counts still disagree — fewer (stats
 * not recorded yet) or more (other clients share the server: its histograms include them).
 */
async function scrapeServerWindow(
  metrics: NonNullable<MeasurementProbes['serverMetrics']>,
  before: unknown,
  measured: readonly RequestRecord[],
  probe: <T>(what: string, f: () => Promise<T>) => Promise<T | null>,
  warnings: string[],
): Promise<unknown | null> {
  const completed = measured.filter((r) => r.success).length;
  let delta: unknown | null = null;
  let counted: number | null = null;
  for (let scrape = 1; scrape <= METRICS_SCRAPES; scrape++) {
    const after = await probe('server metrics scrape', () => metrics.snapshot());
    if (after === null) return delta;
    delta = metrics.diff(before, after);
    counted = metrics.countedRequests?.(delta) ?? null;
    if (counted === null || counted >= completed) break;
    if (scrape < METRICS_SCRAPES) await new Promise((r) => setTimeout(r, METRICS_RESCRAPE_MS));
  }
  if (counted !== null && counted < completed) {
    warnings.push(`server metrics counted ${counted} finished requests where the client saw ${completed} complete (after ${METRICS_SCRAPES} scrapes ${METRICS_RESCRAPE_MS} ms apart): the server's figures miss some of the run`);
  } else if (counted !== null && counted > measured.length) {
    warnings.push(`server metrics counted ${counted} finished requests while this run sent ${measured.length}: other clients share the server, and its figures include their requests`);
  }
  return delta;
}

/**
 * A warmup request: the dataset prompt with a tag in front of the user's text. A server with
 * prefix caching (vLLM's default) would otherwise hold the exact prompts measured first, and
 * their TTFT would be cache hits. The tag changes the text from its first token on, so only
 * what every prompt shares (the chat template's head, a system message) stays warm, as it
 * does in any steady state. Token-id prompts are sent as they are (no text to tag).
 */
export function warmupPrompt(prompt: PromptInput, i: number): PromptInput {
  if (prompt.promptIds !== undefined) return prompt;
  const tag = `[warmup ${i + 1}] `;
  const messages = prompt.messages;
  if (messages === undefined) return { ...prompt, text: tag + prompt.text };
  const last = messages.map((m) => m.role).lastIndexOf('user');
  return {
    ...prompt,
    text: tag + prompt.text,
    messages: messages.map((m, k) => (k === last ? { ...m, content: tag + m.content } : m)),
  };
}

const INTERRUPTED_ERROR = 'cancelled by interrupt';

function abortedRecord(prompt: PromptInput, startNs: bigint, error: string, warmup: boolean): RequestRecord {
  const endNs = nowNs();
  return {
    index: prompt.index, success: false, error, warmup, startNs, endNs, queueMs: 0,
    ttftMs: null, ttfoMs: null, ttstMs: null, e2eMs: null, tpotMs: null, itlMs: [], iclMs: [],
    promptTokens: null, completionTokens: null, tokenCountSource: 'unknown', text: '',
  };
}

/** Resolves with `p`, or with `fallback()` as soon as `signal` aborts (the backend may ignore it). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal, fallback: () => T): Promise<T> {
  if (signal.aborted) return Promise.resolve(fallback());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => resolve(fallback());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => { t = setTimeout(() => resolve(undefined), ms); });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Idle baseline length of `idleSeconds: 'auto'` on a machine whose sensors measure energy. */
export const AUTO_IDLE_SECONDS = 5;

/** 'auto' → AUTO_IDLE_SECONDS when a sensor measures energy; an estimate-only idle figure means nothing. */
async function resolveIdleSeconds(choice: number | 'auto', energy: EnergyMonitor, warnings: string[]): Promise<number> {
  if (choice !== 'auto') return choice;
  try {
    return energy.measuresEnergy === undefined || (await energy.measuresEnergy()) ? AUTO_IDLE_SECONDS : 0;
  } catch (e) {
    warnings.push(`idle baseline skipped: could not tell whether a sensor measures energy (${errorText(e)})`);
    return 0;
  }
}

function checkOptions(opts: RunnerOptions): { load: LoadPlan; warmupCount: number } {
  if (opts.prompts.length === 0) throw new RunSetupError('the dataset has no prompts to run');
  const load = validateLoadPlan(opts.load ?? { mode: 'sequential' });
  const warmupCount = opts.warmupRequests ?? 0;
  if (!Number.isInteger(warmupCount) || warmupCount < 0) throw new RangeError(`warmup requests must be an integer >= 0, got ${warmupCount}`);
  return { load, warmupCount };
}

/** Owns `opts.backend` from the call on: it is closed on every path, bad options included. */
export async function runBenchmark(opts: RunnerOptions): Promise<RunResult> {
  let checked: ReturnType<typeof checkOptions>;
  try {
    checked = checkOptions(opts);
  } catch (e) {
    await opts.backend.close().catch(() => undefined);
    throw e;
  }
  const { load, warmupCount } = checked;
  const maxConsecutive = opts.maxConsecutiveFailures ?? 0;
  const grace = opts.interruptGraceMs ?? 1000;
  const warnings: string[] = [];
  const startedAt = new Date().toISOString();

  // One controller cancels in-flight requests; it follows the caller's interrupt signal. Every
  // request in flight listens to it (here and in its backend), so Node's leak heuristic (more
  // than 10 listeners) would warn at any concurrency above 5.
  const cancel = new AbortController();
  setMaxListeners(0, cancel.signal);
  // One grace budget from the interrupt for all cleanup, so the caller's exit deadline
  // (the CLI's) still leaves time to write the results.
  let graceEndsMs = Infinity;
  const graceLeft = () => (graceEndsMs === Infinity ? grace : Math.max(0, graceEndsMs - Date.now()));
  const onInterrupt = () => {
    graceEndsMs = Date.now() + grace;
    cancel.abort(opts.signal?.reason ?? new Error('interrupted'));
  };
  if (opts.signal?.aborted) onInterrupt();
  opts.signal?.addEventListener('abort', onInterrupt, { once: true });
  const interrupted = () => cancel.signal.aborted;

  const records: RequestRecord[] = [];
  const measured: RequestRecord[] = [];
  let cancelledInFlight = 0;
  const abandonSetup = async (message: string, cause: unknown): Promise<never> => {
    opts.signal?.removeEventListener('abort', onInterrupt);
    await withTimeout(opts.backend.close().catch(() => undefined), graceLeft());
    throw new RunSetupError(message, { cause });
  };
  let description: BackendDescription;
  try {
    description = await opts.backend.open(cancel.signal);
  } catch (e) {
    return abandonSetup(`backend ${opts.backend.kind} failed to open: ${errorText(e)}`, e);
  }
  try {
    opts.checkOpened?.(description);
  } catch (e) {
    // The backend opened; the run's settings do not suit what it reported.
    return abandonSetup(errorText(e), e);
  }
  warnings.push(...(description.warnings ?? []));

  let idle: IdleBaseline | null = null;
  let idleAfter: IdleBaseline | null = null;
  let idleSeconds = 0;
  let energyWindow: EnergyWindowResult | null = null;
  let stopReason: string | null = null;
  let firstDispatchNs: bigint | null = null;
  // When the last measured request was handed out: the energy window's ramp-down starts here.
  let lastDispatchNs: bigint | null = null;
  let clientCalibration: unknown | null = null;
  /** The record sink's writes, one after another (see execute). */
  let sinkChain: Promise<void> = Promise.resolve();
  let serverMetrics: unknown | null = null;
  let metricsBefore: unknown | null = null;
  const probe = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
    try {
      return await raceAbort(f(), cancel.signal, () => null);
    } catch (e) {
      warnings.push(`${what} failed: ${errorText(e)}`);
      return null;
    }
  };
  try {
    if (opts.probes?.calibrate && !interrupted()) clientCalibration = await probe('client calibration', () => opts.probes!.calibrate!());
    if (opts.energy && !interrupted()) {
      idleSeconds = await resolveIdleSeconds(opts.idleSeconds ?? 0, opts.energy, warnings);
      if (idleSeconds > 0) idle = await probe('idle baseline', () => opts.energy!.measureIdle(idleSeconds, cancel.signal));
    }

    const execute = async (prompt: PromptInput, warmup: boolean, queueMs: number): Promise<RequestRecord | null> => {
      const startNs = nowNs();
      let rec: RequestRecord;
      try {
        rec = await raceAbort(opts.backend.generate(prompt, opts.settings, cancel.signal), cancel.signal,
          () => abortedRecord(prompt, startNs, INTERRUPTED_ERROR, warmup));
      } catch (e) {
        // A backend must return failures as records; a throw is still one failed request.
        rec = abortedRecord(prompt, startNs, `backend threw: ${errorText(e)}`, warmup);
      }
      if (!rec.success && interrupted()) {
        cancelledInFlight++;
        if (warmup) return null;
        // A measured request the interrupt cut short stays in the records, failed: its time and
        // energy are inside the measured window, and dropping it would credit that energy to
        // the requests that finished.
        if (rec.error !== INTERRUPTED_ERROR) rec = { ...rec, error: `${INTERRUPTED_ERROR} (${rec.error ?? 'no error text'})` };
      }
      rec = { ...rec, index: prompt.index, warmup, queueMs: (rec.queueMs ?? 0) + queueMs };
      records.push(rec);
      if (opts.onRecord) {
        // Written in the order requests finished, but not awaited here: a slow sink (the JSONL
        // append) must not hold the load slot, where its time would become the next request's
        // queue time. The run waits for the chain before it returns.
        const sink = opts.onRecord;
        const finished = rec;
        sinkChain = sinkChain.then(() => sink(finished)).catch((e: unknown) => {
          warnings.push(`record sink failed: ${errorText(e)}`);
        });
      }
      return rec;
    };

    // Progress of the current phase only (tokens and failures are counted in the measured one).
    let t0 = nowNs();
    let done = 0;
    let failed = 0;
    let tokens = 0;
    let progressFailed = false;
    const progress = (phase: ProgressEvent['phase'], total: number) => {
      if (progressFailed) return;
      try {
        opts.onProgress?.({ phase, done, total, failed, completionTokens: tokens, elapsedSeconds: Number(nowNs() - t0) / 1e9 });
      } catch (e) {
        // A broken progress display must not lose the run (nor reject the load driver's run()).
        progressFailed = true;
        warnings.push(`progress callback failed (no more progress is shown): ${errorText(e)}`);
      }
    };

    for (let i = 0; i < warmupCount && !interrupted(); i++) {
      const rec = await execute(warmupPrompt(opts.prompts[i % opts.prompts.length]!, i), true, 0);
      if (rec) {
        done++;
        progress('warmup', warmupCount);
      }
    }

    done = 0;
    t0 = nowNs();
    if (!interrupted()) {
      const metricsProbe = opts.probes?.serverMetrics;
      if (metricsProbe) metricsBefore = await probe('server metrics scrape', () => metricsProbe.snapshot());
      if (opts.energy) {
        try {
          await opts.energy.startWindow('measured');
        } catch (e) {
          warnings.push(`energy window failed to start: ${errorText(e)}`);
        }
      }
      let consecutive = 0;
      const drive = await driveLoad({
        items: opts.prompts,
        plan: load,
        signal: cancel.signal,
        shouldStop: () => stopReason !== null,
        run: async (prompt, ctx) => {
          if (lastDispatchNs === null || ctx.dispatchNs > lastDispatchNs) lastDispatchNs = ctx.dispatchNs;
          const rec = await execute(prompt, false, ctx.queueMs);
          if (!rec) return;
          measured.push(rec);
          done++;
          if (rec.success) {
            consecutive = 0;
            tokens += rec.completionTokens ?? 0;
          } else {
            failed++;
            consecutive++;
            if (maxConsecutive > 0 && consecutive >= maxConsecutive && stopReason === null)
              stopReason = `consecutive_failures: ${consecutive} requests failed in a row (last error: ${rec.error ?? 'unknown'})`;
          }
          progress('measured', opts.prompts.length);
        },
      });
      firstDispatchNs = drive.firstDispatchNs;
      const lag = scheduleLagWarning(load, measured);
      if (lag !== null) warnings.push(lag);
      if (opts.energy) {
        try {
          const stop = opts.energy.stopWindow();
          energyWindow = (interrupted() ? await withTimeout(stop, graceLeft()) : await stop) ?? null;
        } catch (e) {
          warnings.push(`energy window failed to stop: ${errorText(e)}`);
        }
      }
      if (metricsProbe && metricsBefore !== null && !interrupted()) {
        serverMetrics = await scrapeServerWindow(metricsProbe, metricsBefore, measured, probe, warnings);
      }
      // The baseline again, now that the device is warm (how far idle power drifted); after
      // the server scrape, so idle time stays out of its histograms' window.
      if (opts.energy && opts.idleAfter && idle !== null && !interrupted()) {
        idleAfter = await probe('idle baseline after the run', () => opts.energy!.measureIdle(idleSeconds, cancel.signal));
      }
    }
  } finally {
    opts.signal?.removeEventListener('abort', onInterrupt);
    if (interrupted()) await withTimeout(sinkChain, graceLeft());
    else await sinkChain;
    const closing = opts.backend.close().catch((e) => warnings.push(`backend close failed: ${errorText(e)}`));
    if (interrupted()) await withTimeout(closing, graceLeft());
    else await closing;
  }
  if (interrupted()) stopReason = 'interrupted';

  let lastEndNs = firstDispatchNs ?? 0n;
  for (const r of measured) if (r.endNs > lastEndNs) lastEndNs = r.endNs;
  const durationSeconds = firstDispatchNs === null ? 0 : Number(lastEndNs - firstDispatchNs) / 1e9;

  // The warmup requests that ran (an interrupt can come before some or all of them).
  const warmupsRun = records.filter((r) => r.warmup).length;
  const base = { records: measured, plannedPrompts: opts.prompts.length, warmupRequests: warmupsRun, durationSeconds,
    stopReason, cancelledInFlight, energy: energyWindow, idle, idleAfter, slo: opts.slo ?? null, backend: description, load, lastDispatchNs };
  let summary = buildSummary({ ...base, emissions: null });
  if (opts.emissions && summary.energy.primary_joules !== null) {
    try {
      const emissions = await opts.emissions(summary.energy.primary_joules);
      summary = buildSummary({ ...base, emissions });
    } catch (e) {
      warnings.push(`emissions unavailable: ${errorText(e)}`);
    }
  }
  warnings.push(...summary.energy.warnings);
  const slack = stampSlackWarning(summary);
  if (slack !== null) warnings.push(slack);
  return { description, records, summary, energyWindow, idle, interrupted: interrupted(), clientCalibration, serverMetrics, startedAt, finishedAt: new Date().toISOString(), warnings };
}
