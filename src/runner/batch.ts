// Batch runs over the old models CSV: one run per (model, reasoning state) row. Reasoning On
// allows up to 8192 new tokens; Off is fixed at exactly 10 (min = max). One failing model
// never stops the batch; --resume skips runs already recorded in master_results.csv.
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchmarkConfig } from '../config/schema.js';
import type { ModelEntry } from '../config/models-csv.js';
import { parseReasoningState } from '../formatters/reasoning-state.js';
import { prepareReasoningPrompt } from '../formatters/prepare.js';
import { readCsvFile } from '../results/csv-file.js';
import { makeRunId, runConfigured, type PipelineDeps, type PipelineOutcome } from './pipeline.js';
import { reasoningParams } from './reasoning.js';
import { makeDirectory } from '../util/make-directory.js';

export const REASONING_ON_MAX_NEW_TOKENS = 8192;
export const REASONING_OFF_NEW_TOKENS = 10;

export interface PlannedRun {
  model: string;
  model_class: string;
  task: string;
  reasoning_state: string;
  reasoning_enabled: boolean | null;
  prompt_format: string | null;
  reasoning_label: string | null;
  reasoning_params: Record<string, unknown>;
  max_new_tokens: number;
  min_new_tokens: number;
  /** Set when the row cannot run (e.g. an unreadable reasoning state); the batch reports and skips it. */
  error: string | null;
  entry: ModelEntry;
}

export function planRun(entry: ModelEntry): PlannedRun {
  const base = { model: entry.model, model_class: entry.modelClass, task: entry.task, reasoning_state: entry.reasoningState, entry };
  try {
    const state = parseReasoningState(entry.reasoningState);
    const prepared = prepareReasoningPrompt({ modelId: entry.model, reasoning: entry.reasoningState, prompt: '' });
    const tokens = state.enabled ? { max_new_tokens: REASONING_ON_MAX_NEW_TOKENS, min_new_tokens: 1 } : { max_new_tokens: REASONING_OFF_NEW_TOKENS, min_new_tokens: REASONING_OFF_NEW_TOKENS };
    return { ...base, reasoning_enabled: state.enabled, prompt_format: prepared.format, reasoning_label: prepared.label, reasoning_params: reasoningParams(prepared), ...tokens, error: null };
  } catch (e) {
    return { ...base, reasoning_enabled: null, prompt_format: null, reasoning_label: null, reasoning_params: {}, max_new_tokens: 0, min_new_tokens: 0,
      error: `models CSV line ${entry.line}: ${(e as Error).message}` };
  }
}

export const planBatch = (entries: readonly ModelEntry[]) => entries.map(planRun);

/** What --dry-run prints per run (JSON line / table). */
export function dryRunView(p: PlannedRun): Record<string, unknown> {
  return {
    model: p.model, model_class: p.model_class, task: p.task, reasoning_state: p.reasoning_state,
    prompt_format: p.prompt_format, reasoning_label: p.reasoning_label, reasoning_params: p.reasoning_params,
    max_new_tokens: p.max_new_tokens, min_new_tokens: p.min_new_tokens, ...(p.error ? { error: p.error } : {}),
  };
}

const runKey = (model: string, state: string) => `${model.toLowerCase()}\u0000${state.trim().toLowerCase()}`;

/**
 * (model, reasoning state) pairs with a finished row. Retried: FAILED rows, interrupted runs and
 * runs where no prompt succeeded (successful_prompts 0: nothing was measured).
 */
export async function completedRuns(masterCsv: string): Promise<Set<string>> {
  let table;
  try {
    table = await readCsvFile(masterCsv);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || /ENOENT/.test((e as Error).message)) return new Set();
    throw e;
  }
  const col = (name: string) => table.header.indexOf(name);
  const [m, s, err, stop, ok] = [col('model_name'), col('reasoning_state'), col('error_message'), col('stop_reason'), col('successful_prompts')];
  const done = new Set<string>();
  const noneSucceeded = (row: readonly string[]) => ok >= 0 && (row[ok] ?? '').trim() !== '' && Number(row[ok]) === 0;
  for (const row of table.rows) {
    if ((row[err] ?? '').startsWith('FAILED') || (stop >= 0 && row[stop] === 'interrupted') || noneSucceeded(row)) continue;
    done.add(runKey(row[m] ?? '', row[s] ?? ''));
  }
  return done;
}

export interface BatchOptions {
  /** Applied per run on top of the base configuration. */
  configFor(run: PlannedRun): BenchmarkConfig;
  outputDir: string;
  resume: boolean;
  masterCsv: string;
  log?(message: string): void;
  onRunDone?(run: PlannedRun, outcome: PipelineOutcome | null, skipped: string | null): void;
}

export interface BatchOutcome {
  runs: { run: PlannedRun; outcome: PipelineOutcome | null; skipped: string | null }[];
  interrupted: boolean;
}

export async function runBatch(plan: readonly PlannedRun[], deps: PipelineDeps, opts: BatchOptions): Promise<BatchOutcome> {
  const done = opts.resume ? await completedRuns(opts.masterCsv) : new Set<string>();
  const logsDir = join(opts.outputDir, 'logs');
  await makeDirectory(logsDir);
  const out: BatchOutcome = { runs: [], interrupted: false };
  for (const run of plan) {
    if (deps.signal?.aborted) {
      out.interrupted = true;
      break;
    }
    const record = (outcome: PipelineOutcome | null, skipped: string | null) => {
      out.runs.push({ run, outcome, skipped });
      opts.onRunDone?.(run, outcome, skipped);
    };
    if (run.error) {
      opts.log?.(`skipping ${run.model} (${run.reasoning_state}): ${run.error}`);
      record(null, run.error);
      continue;
    }
    if (done.has(runKey(run.model, run.reasoning_state))) {
      opts.log?.(`skipping ${run.model} (${run.reasoning_state}): already in ${opts.masterCsv}`);
      record(null, 'already completed (resume)');
      continue;
    }
    const runId = makeRunId(run.model, run.reasoning_state);
    const logFile = join(logsDir, `${runId}.log`);
    const log = (message: string) => {
      opts.log?.(`[${run.model} ${run.reasoning_state}] ${message}`);
      void appendFile(logFile, `${new Date().toISOString()} ${message}\n`).catch(() => undefined);
    };
    let outcome: PipelineOutcome;
    try {
      const config = opts.configFor(run);
      log(`starting run ${runId}: format ${run.prompt_format}, ${run.reasoning_label}, max_new_tokens ${run.max_new_tokens}, min_new_tokens ${run.min_new_tokens}`);
      outcome = await runConfigured(config, { ...deps, log }, {
        modelName: run.model, modelClass: run.model_class, task: run.task, reasoningState: run.reasoning_state, runId,
      });
    } catch (e) {
      // Setup errors (unwritable master CSV, bad per-run config) fail this run only.
      log(`failed: ${(e as Error).message}`);
      record(null, `error: ${(e as Error).message}`);
      continue;
    }
    log(outcome.status === 'failed' ? `failed: ${outcome.error}` : `${outcome.status}: ${outcome.summary?.successful_prompts}/${outcome.summary?.total_prompts} prompts succeeded`);
    record(outcome, null);
    if (outcome.status === 'interrupted') {
      out.interrupted = true;
      break;
    }
  }
  return out;
}
