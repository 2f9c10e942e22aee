// A configured run end to end: dataset → prompt format → backend → runner → result files
// (individual_runs/<run_id>/{requests.jsonl, report.json, results.csv, telemetry.jsonl} and a
// master row). The outcome lists only the files that were actually written.
// Backends, energy monitors, emissions and tokenizers are injected so this works with
// scripted test backends and before/without the native addon.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Backend, BackendDescription, GenerationSettings, ReasoningSettings, RequestRecord } from '../backends/types.js';
import { backendKind } from '../config/load.js';
import type { BenchmarkConfig } from '../config/schema.js';
import { DatasetError } from '../datasets/files.js';
import { loadDataset, type LoadedDataset } from '../datasets/load.js';
import type { EnergyMonitor } from '../energy/types.js';
import type { LoadPlan } from '../load/plan.js';
import { describeLoadPlan } from '../load/plan.js';
import {
  appendMasterRow, assertAppendable, buildFailedRow, buildMasterRow, ResultsFileError, type RunIdentity,
} from '../results/master-csv.js';
import { buildRunReport, RecordsWriter, writeRunCsv, writeRunReport, writeTelemetry } from '../results/run-files.js';
import { adaptForHttp, formatReasoningPrompts } from './reasoning.js';
import { runBenchmark, type MeasurementProbes, type ProgressEvent, type RunResult } from './runner.js';
import type { EmissionsFigure } from './summary.js';
import { makeDirectory } from '../util/make-directory.js';

export interface Tokenizer {
  encode(text: string): number[] | Promise<number[]>;
  decode?(ids: number[]): string;
}

export interface BackendContext {
  /** Model id used for the reasoning registry and results. */
  modelName: string;
  /** The run's reasoning settings (null = no reasoning control). */
  reasoning: ReasoningSettings | null;
}

export interface PipelineDeps {
  createBackend(config: BenchmarkConfig, ctx: BackendContext): Promise<Backend>;
  createEnergyMonitor?(config: BenchmarkConfig): Promise<EnergyMonitor | null>;
  /** Backend-specific measurements around the run (client calibration, server metrics). */
  probes?(config: BenchmarkConfig, backend: Backend): Promise<MeasurementProbes | null>;
  emissions?(joules: number, config: BenchmarkConfig): Promise<EmissionsFigure | null>;
  tokenizer?(config: BenchmarkConfig): Promise<Tokenizer | null>;
  /** Collected while the run starts (never after an interrupt, where time is short). */
  environment?(config: BenchmarkConfig): Promise<Record<string, unknown>>;
  log?(message: string): void;
  onProgress?(event: ProgressEvent): void;
  /** Each finished request, after it is written to the JSONL (e.g. a per-prompt log line). */
  onRecord?(record: RequestRecord): void;
  /** Refuses a run whose opened backend cannot serve it (RunnerOptions.checkOpened). */
  checkOpened?(config: BenchmarkConfig, description: BackendDescription): void;
  signal?: AbortSignal;
}

export interface RunMeta {
  modelName?: string;
  modelClass?: string;
  task?: string;
  /** As written in the models CSV / master CSV ('On', 'Off (N/A)', …). */
  reasoningState?: string;
  runId?: string;
}

export interface PipelineOutcome {
  runId: string;
  status: 'completed' | 'interrupted' | 'failed';
  summary: RunResult['summary'] | null;
  result: RunResult | null;
  error: string | null;
  /** The thrown error behind a failed run (for exit codes). */
  cause?: unknown;
  /** The run directory and the files written (a key is absent when its file was not written). */
  files: RunFiles;
  reasoningFormat: string | null;
  reasoningLabel: string | null;
}

export interface RunFiles {
  dir: string;
  records?: string;
  report?: string;
  csv?: string;
  master?: string;
  /** Written only when the energy monitor sampled a timeline. */
  telemetry?: string;
}

/** The first existing path at or above `p` that is not a directory (what blocks creating `p`). */
async function blockingFile(p: string): Promise<string | null> {
  for (let cur = resolve(p); ; cur = dirname(cur)) {
    const s = await stat(cur).catch(() => null);
    if (s) return s.isDirectory() ? null : cur;
    if (dirname(cur) === cur) return null;
  }
}

/**
 * Creates the results directory `dir` (with its parents) and checks it is writable, or throws a
 * ResultsFileError naming the path and the problem. Called before any prompt runs.
 */
export async function prepareOutputDir(dir: string): Promise<void> {
  try {
    await makeDirectory(dir);
  } catch (e) {
    const file = await blockingFile(dir);
    const why = file ? `${file} is a file, not a directory` : errorText(e);
    throw new ResultsFileError(`results directory ${dir} cannot be created: ${why}`, { cause: e });
  }
  try {
    await access(dir, constants.W_OK);
  } catch (e) {
    throw new ResultsFileError(`results directory ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? errorText(e)})`, { cause: e });
  }
}

export function loadPlanOf(config: BenchmarkConfig): LoadPlan {
  const l = config.load;
  if (l.mode === 'sequential') return { mode: 'sequential' };
  if (l.mode === 'concurrency') return { mode: 'concurrency', concurrency: l.concurrency };
  return { mode: 'rate', rate: l.rate!, arrival: l.arrival, burstiness: l.burstiness, seed: l.seed, ...(l.max_concurrency ? { maxConcurrency: l.max_concurrency } : {}) };
}

export function generationSettingsOf(config: BenchmarkConfig): GenerationSettings {
  const s = config.scenario;
  const settings: GenerationSettings = {
    maxNewTokens: s.generate_kwargs.max_new_tokens,
    minNewTokens: s.generate_kwargs.min_new_tokens,
    temperature: s.temperature,
    seed: s.seed,
  };
  if (s.top_p !== null) settings.topP = s.top_p;
  if (s.top_k !== null) settings.topK = s.top_k;
  if (config.backend.request_timeout_ms > 0) settings.timeoutMs = config.backend.request_timeout_ms;
  return settings;
}

const slug = (s: string) => s.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 80) || 'run';

export function makeRunId(model: string, reasoningState: string | null, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1Z');
  return [ts, slug(model), reasoningState ? slug(reasoningState) : null].filter(Boolean).join('_');
}

/** GPUs doing the work: the native engine uses one device; a server's are known only from device_ids. */
function gpuCountOf(config: BenchmarkConfig): number | null {
  if (backendKind(config) === 'openai') return config.backend.device_ids?.length ?? null;
  return config.backend.device.startsWith('cuda') ? 1 : 0;
}

export function masterCsvPath(config: BenchmarkConfig): string {
  return config.results.master_csv ?? join(config.results.output_dir, 'master_results.csv');
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** After an interrupt the machine description may still be loading: do not wait for it. */
const ENVIRONMENT_WAIT_AFTER_INTERRUPT_MS = 100;

/** The master row first (what users compare across runs), then the per-run files. */
async function writeResults(config: BenchmarkConfig, files: { records: string; report: string; csv: string; master: string; telemetry: string },
  identity: RunIdentity, plan: LoadPlan, result: RunResult, environmentP: Promise<Record<string, unknown>>, interrupted: boolean,
  timeline: readonly unknown[], written: RunFiles): Promise<void> {
  const row = buildMasterRow(identity, result.summary);
  await appendMasterRow(files.master, row, { sync: !interrupted });
  written.master = files.master;
  let timer: NodeJS.Timeout | undefined;
  const environment = interrupted
    ? await Promise.race([environmentP, new Promise<Record<string, unknown>>((r) => {
      timer = setTimeout(() => r({ pending: 'not collected: run interrupted' }), ENVIRONMENT_WAIT_AFTER_INTERRUPT_MS);
    })]).finally(() => clearTimeout(timer))
    : await environmentP;
  await writeRunReport(files.report, buildRunReport({
    run_id: identity.runId!, config, environment: withRunThreads(environment, result.description), backend: result.description,
    load: { plan, description: describeLoadPlan(plan), warmup_requests: config.runner.warmup_requests },
    summary: result.summary, client_calibration: result.clientCalibration, server_metrics: result.serverMetrics,
    warnings: result.warnings, started_at: result.startedAt, finished_at: result.finishedAt,
    files: { records: files.records, csv: files.csv, master: files.master, ...(timeline.length > 0 ? { telemetry: files.telemetry } : {}) },
  }), { sync: !interrupted });
  written.report = files.report;
  // fsync only when there is time: after an interrupt the 2 s deadline comes first.
  await writeRunCsv(files.csv, row, { sync: !interrupted });
  written.csv = files.csv;
  if (config.reporter.output_file) await writeRunCsv(config.reporter.output_file, row, { sync: !interrupted });
  if (timeline.length > 0) {
    await writeTelemetry(files.telemetry, timeline, { sync: !interrupted });
    written.telemetry = files.telemetry;
  }
}

/**
 * The machine description with the intra-op thread count the run used (the backend's, when it
 * reports one) in place of the library's default read on the main thread.
 */
function withRunThreads(environment: Record<string, unknown>, description: RunResult['description']): Record<string, unknown> {
  const threads = (description.details as { threads?: unknown } | undefined)?.threads;
  const native = environment.native;
  if (typeof threads !== 'number' || native === null || typeof native !== 'object' || 'unavailable' in native) return environment;
  return { ...environment, native: { ...native, threads } };
}

export async function runConfigured(config: BenchmarkConfig, deps: PipelineDeps, meta: RunMeta = {}): Promise<PipelineOutcome> {
  const log = deps.log ?? (() => undefined);
  const model = meta.modelName ?? config.results.model_name ?? config.backend.model ?? 'default-model';
  const r = config.scenario.reasoning;
  const reasoningState = meta.reasoningState ?? config.results.reasoning_state ?? (r === null ? '' : typeof r === 'string' ? r : r ? 'On' : 'Off');
  const runId = meta.runId ?? makeRunId(model, reasoningState || null);
  const dir = join(config.results.output_dir, 'individual_runs', runId);
  const files = { dir, records: join(dir, 'requests.jsonl'), report: join(dir, 'report.json'), csv: join(dir, 'results.csv'), master: masterCsvPath(config), telemetry: join(dir, 'telemetry.jsonl') };
  const written: RunFiles = { dir };
  const plan = loadPlanOf(config);
  const identity: RunIdentity = {
    modelName: model, modelClass: meta.modelClass ?? config.results.model_class, task: meta.task ?? config.results.task,
    reasoningState, runId, backend: backendKind(config), device: backendKind(config) === 'openai' ? null : config.backend.device, loadMode: describeLoadPlan(plan),
    gpuCount: gpuCountOf(config),
  };
  // Fail before a long run, not after it, when results could not be recorded.
  await prepareOutputDir(config.results.output_dir);
  await prepareOutputDir(dirname(files.master));
  await assertAppendable(files.master).catch((e: unknown) => {
    throw e instanceof ResultsFileError ? e : new ResultsFileError(`${files.master}: ${errorText(e)}`, { cause: e });
  });
  const t0 = process.hrtime.bigint();
  let reasoningFormat: string | null = null;
  let reasoningLabel: string | null = null;
  let writer: RecordsWriter | null = null;
  let energy: EnergyMonitor | null = null;
  let planned = config.scenario.num_samples ?? 0;

  try {
    const tokenizer = config.scenario.max_prompt_tokens !== null && deps.tokenizer ? await deps.tokenizer(config) : null;
    const dataset: LoadedDataset = await loadDataset({
      source: config.scenario.dataset_name,
      column: config.scenario.text_column_name,
      count: config.scenario.num_samples,
      sampling: config.scenario.sampling,
      seed: config.scenario.seed,
      maxPromptTokens: config.scenario.max_prompt_tokens,
      ...(tokenizer ? { encode: (t: string) => tokenizer.encode(t), ...(tokenizer.decode ? { decode: (ids: number[]) => tokenizer.decode!(ids) } : {}) } : {}),
    });
    planned = dataset.prompts.length;
    log(`dataset ${dataset.source}: ${dataset.prompts.length} of ${dataset.totalRows} prompts`);

    const settings = generationSettingsOf(config);
    let prompts = dataset.prompts;
    const params = config.scenario.reasoning_params;
    // Params alone imply reasoning on, unless they switch it off themselves (enable_thinking: false).
    const reasoningValue = meta.reasoningState || config.scenario.reasoning;
    if ((reasoningValue !== null && reasoningValue !== '') || params) {
      const asFormatted = formatReasoningPrompts(prompts, model, reasoningValue ?? params?.enable_thinking ?? true, params);
      const formatted = backendKind(config) === 'openai' ? adaptForHttp(asFormatted, config.backend.api) : asFormatted;
      prompts = formatted.prompts;
      settings.reasoning = formatted.reasoning;
      reasoningFormat = formatted.format;
      reasoningLabel = formatted.label;
      log(`reasoning format ${formatted.format}: ${formatted.label}`);
    }

    const environmentP = deps.environment
      ? deps.environment(config).catch((e: unknown) => ({ error: errorText(e) }))
      : Promise.resolve({});
    energy = config.metrics.enabled && deps.createEnergyMonitor ? await deps.createEnergyMonitor(config) : null;
    writer = await RecordsWriter.create(files.records).catch((e: unknown) => {
      throw new ResultsFileError(`${files.records} cannot be created: ${errorText(e)}`, { cause: e });
    });
    written.records = files.records;
    // Created last: from here runBenchmark owns the backend and closes it whatever happens.
    const backend = await deps.createBackend(config, { modelName: model, reasoning: settings.reasoning ?? null });
    const w = writer;
    const result = await runBenchmark({
      backend, probes: deps.probes ? await deps.probes(config, backend) : null, prompts, settings, load: plan,
      ...(deps.checkOpened ? { checkOpened: (d: BackendDescription) => deps.checkOpened!(config, d) } : {}),
      warmupRequests: config.runner.warmup_requests,
      maxConsecutiveFailures: config.runner.max_consecutive_failures,
      energy, idleSeconds: config.metrics.idle_seconds ?? 'auto', idleAfter: config.metrics.idle_after, slo: config.slo,
      ...(deps.signal ? { signal: deps.signal } : {}),
      onRecord: async (r) => {
        await w.write(r);
        deps.onRecord?.(r);
      },
      ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
      ...(deps.emissions ? { emissions: (j: number) => deps.emissions!(j, config) } : {}),
    });
    await writer.close({ sync: !result.interrupted });
    writer = null;
    for (const warning of result.warnings) log(`warning: ${warning}`);
    identity.device = result.description.device ?? identity.device;
    identity.dtype = result.description.dtype ?? '';
    if (result.description.gpuOrdinals) identity.gpuCount = result.description.gpuOrdinals.length;
    const status = result.interrupted ? 'interrupted' : 'completed';
    try {
      await writeResults(config, files, identity, plan, result, environmentP, result.interrupted, energy?.timeline() ?? [], written);
    } catch (e) {
      // The run itself finished: keep its measurements in the outcome, and add no FAILED row
      // (the master row may already be written; a retry would measure the run again).
      const error = `results could not be written: ${errorText(e)}`;
      log(`error: ${error}`);
      // A results-file failure (exit code 5), whatever the underlying error was.
      const cause = e instanceof ResultsFileError ? e : new ResultsFileError(error, { cause: e });
      return { runId, status: 'failed', summary: result.summary, result, error, cause, files: written, reasoningFormat, reasoningLabel };
    }
    return { runId, status, summary: result.summary, result, error: null, files: written, reasoningFormat, reasoningLabel };
  } catch (e) {
    if (writer) await writer.close().catch(() => undefined);
    const error = errorText(e);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    // The dataset could not be read (a wrong path, column or count): nothing about the model
    // was run or learned, so no FAILED row goes into the results users compare.
    if (e instanceof DatasetError) {
      return { runId, status: 'failed', summary: null, result: null, error, cause: e, files: written, reasoningFormat, reasoningLabel };
    }
    try {
      await appendMasterRow(files.master, buildFailedRow(identity, planned, seconds, error));
      written.master = files.master;
    } catch (we) {
      log(`warning: could not record the failed run in ${files.master}: ${errorText(we)}`);
    }
    return { runId, status: 'failed', summary: null, result: null, error, cause: e, files: written, reasoningFormat, reasoningLabel };
  } finally {
    if (energy) await energy.close().catch(() => undefined);
  }
}
