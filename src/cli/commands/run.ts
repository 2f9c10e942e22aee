// aeb run [config.yaml] [a.b.c=value …] [--flags]: one benchmark run.
import type { Command } from 'commander';
import { backendKind, loadConfig } from '../../config/load.js';
import type { BenchmarkConfig } from '../../config/schema.js';
import { runErrorMessage } from '../../results/master-csv.js';
import { runConfigured } from '../../runner/pipeline.js';
import { CliError } from '../errors.js';
import { installInterruptHandler } from '../interrupt.js';
import { createLogger, printJsonLine, whileWritingFiles, writeStdout } from '../output.js';
import { createProgress } from '../progress.js';
import { formatServerSide, formatSummary } from '../summary-text.js';
import { DEFAULT_MODEL_NOTICE, defaultModelLabel, pipelineDeps } from '../wiring.js';
import {
  backendFromFlags, flagOverrides, outcomeExitCode, outcomeLabel, parseIntOption, parseNumberOption, runJson, splitArgs, withContextCheck,
} from './shared.js';

/** Flag → config key. Flags win over the file and positional overrides. */
export const RUN_FLAG_KEYS: Record<string, string> = {
  model: 'backend.model', backend: 'backend.type', endpoint: 'backend.endpoint', api: 'backend.api', device: 'backend.device',
  dtype: 'backend.torch_dtype', threads: 'backend.threads', maxSeqLen: 'backend.max_seq_len', tokenizer: 'backend.tokenizer',
  dataset: 'scenario.dataset_name', textColumn: 'scenario.text_column_name', numPrompts: 'scenario.num_samples',
  sampling: 'scenario.sampling', seed: 'scenario.seed', maxPromptTokens: 'scenario.max_prompt_tokens',
  reasoning: 'scenario.reasoning', maxNewTokens: 'scenario.generate_kwargs.max_new_tokens', minNewTokens: 'scenario.generate_kwargs.min_new_tokens',
  temperature: 'scenario.temperature',
  concurrency: 'load.concurrency', rate: 'load.rate', arrival: 'load.arrival', burstiness: 'load.burstiness', maxConcurrency: 'load.max_concurrency',
  warmup: 'runner.warmup_requests', maxConsecutiveFailures: 'runner.max_consecutive_failures', idleSeconds: 'metrics.idle_seconds',
  cpuWattsPerCore: 'metrics.cpu_watts_per_core', country: 'metrics.country_iso_code', region: 'metrics.region', outputDir: 'results.output_dir', masterCsv: 'results.master_csv',
  sloTtftMs: 'slo.ttft_ms', sloTpotMs: 'slo.tpot_ms', sloE2eMs: 'slo.e2e_ms',
};

export function addRunFlags(cmd: Command): Command {
  return cmd
    .option('--model <id|path>', 'model directory (native) or served model name (OpenAI/vLLM); default: the built-in default model')
    .option('--backend <type>', 'native (alias pytorch) or openai (alias vllm); default: vllm when --endpoint is given, else native')
    .option('--endpoint <url>', 'OpenAI-compatible base URL, e.g. http://localhost:8000/v1')
    .option('--api <api>', 'chat or completions')
    .option('--device <device>', 'cpu, cuda or cuda:N (native)')
    .option('--dtype <dtype>', 'auto, float32/f32, bfloat16/bf16 or float16/f16 (native)')
    .option('--threads <n>', 'CPU threads (native)', parseIntOption('threads'))
    .option('--max-seq-len <n>', "KV cache positions, prompt + new tokens (native; default min(the model's max_position_embeddings, 4096))", parseIntOption('max-seq-len'))
    .option('--tokenizer <dir>', "local directory with the served model's tokenizer.json (vllm; needed by --max-prompt-tokens)")
    .option('--dataset <source>', 'builtin, a .jsonl/.csv/.parquet file or a Hugging Face dataset id')
    .option('--text-column <name>', 'dataset column holding the prompt (default text)')
    .option('--num-prompts <n>', 'number of prompts (default: all)', parseIntOption('num-prompts'))
    .option('--sampling <how>', 'first (in order, as before) or random (seeded)')
    .option('--seed <n>', 'sampling/generation seed', parseIntOption('seed'))
    .option('--max-prompt-tokens <n>', 'truncate prompts to this many tokens', parseIntOption('max-prompt-tokens'))
    .option('--reasoning <state>', 'reasoning switch: on/off/true/false/"On (High)"/…')
    .option('--max-new-tokens <n>', 'new tokens at most', parseIntOption('max-new-tokens'))
    .option('--min-new-tokens <n>', 'new tokens at least', parseIntOption('min-new-tokens'))
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', parseNumberOption('temperature'))
    .option('--concurrency <n>', 'closed loop with N requests in flight (sets load.mode=concurrency); with --rate: at most N in flight', parseIntOption('concurrency'))
    .option('--rate <r>', 'open loop at r requests/s (sets load.mode=rate)', parseNumberOption('rate'))
    .option('--arrival <process>', 'constant, poisson or gamma (rate mode)')
    .option('--burstiness <b>', 'gamma shape: 1 = Poisson, < 1 burstier', parseNumberOption('burstiness'))
    .option('--max-concurrency <n>', 'cap on requests in flight (rate mode)', parseIntOption('max-concurrency'))
    .option('--warmup <n>', 'warmup requests excluded from statistics (default 1)', parseIntOption('warmup'))
    .option('--max-consecutive-failures <n>', 'stop after N failures in a row, keeping results (0 = never; default 5)', parseIntOption('max-consecutive-failures'))
    .option('--idle-seconds <s>', 'idle power baseline before the run', parseNumberOption('idle-seconds'))
    .option('--no-energy', 'do not measure energy')
    .option('--cpu-watts-per-core <W>', 'watts per busy core for the CPU energy estimate where no CPU sensor exists', parseNumberOption('cpu-watts-per-core'))
    .option('--country <ISO3>', 'country for grid carbon intensity (e.g. USA, FRA)')
    .option('--region <name>', 'region for grid carbon intensity (e.g. california)')
    .option('--output-dir <dir>', 'results directory (master_results.csv, individual_runs/, logs/)')
    .option('--master-csv <file>', 'master results file (default <output-dir>/master_results.csv)')
    .option('--slo-ttft-ms <ms>', 'goodput SLO: TTFT at most this many ms', parseNumberOption('slo-ttft-ms'))
    .option('--slo-tpot-ms <ms>', 'goodput SLO: TPOT at most this many ms', parseNumberOption('slo-tpot-ms'))
    .option('--slo-e2e-ms <ms>', 'goodput SLO: end-to-end time at most this many ms', parseNumberOption('slo-e2e-ms'))
    .option('--json', 'print one JSON object per run on stdout (logs go to stderr)')
    .option('-q, --quiet', 'no progress or log output');
}

export function runOverrides(opts: Record<string, unknown>): string[] {
  const backend = backendFromFlags(opts.backend as string | undefined, opts.endpoint as string | undefined);
  const flags: Record<string, unknown> = { ...opts, backend };
  if (opts.rate !== undefined && opts.concurrency !== undefined) {
    // An open loop's only use for a concurrency is as its cap on requests in flight.
    if (opts.maxConcurrency !== undefined && opts.maxConcurrency !== opts.concurrency)
      throw new CliError(`--concurrency ${opts.concurrency} and --max-concurrency ${opts.maxConcurrency} both cap the requests in flight with --rate: give one of them`);
    flags.maxConcurrency = opts.concurrency;
    delete flags.concurrency;
  }
  const out = flagOverrides(RUN_FLAG_KEYS, flags);
  if (opts.concurrency !== undefined && opts.rate === undefined) out.push('load.mode=concurrency');
  if (opts.rate !== undefined) out.push('load.mode=rate');
  if (opts.energy === false) out.push('metrics.enabled=false');
  return out;
}

/** Rate-mode flags given where the merged configuration does not run at a rate: they would be ignored. */
export function assertLoadFlagsApply(opts: Record<string, unknown>, config: BenchmarkConfig): void {
  const rateOnly: [string, string][] = [['arrival', '--arrival'], ['burstiness', '--burstiness'], ['maxConcurrency', '--max-concurrency']];
  if (config.load.mode !== 'rate') {
    const given = rateOnly.filter(([k]) => opts[k] !== undefined).map(([, flag]) => flag);
    if (given.length)
      throw new CliError(`${given.join(' and ')} ${given.length > 1 ? 'apply' : 'applies'} to an open loop only and would be ignored: add --rate R (requests per second; or load.mode=rate with load.rate in the config)`);
  } else if (opts.burstiness !== undefined && config.load.arrival !== 'gamma') {
    throw new CliError(`--burstiness shapes gamma arrivals only and would be ignored with arrival ${config.load.arrival}: add --arrival gamma`);
  }
}

/** Engine flags that the chosen backend does not use (warned, not refused: the run itself is sound). */
export function ignoredFlagWarnings(opts: Record<string, unknown>, config: BenchmarkConfig): string[] {
  const nativeOnly: [string, string][] = [['device', '--device'], ['dtype', '--dtype'], ['threads', '--threads'], ['maxSeqLen', '--max-seq-len']];
  if (backendKind(config) === 'openai') {
    return nativeOnly.filter(([k]) => opts[k] !== undefined)
      .map(([, flag]) => `${flag} applies to the native engine only and is ignored with backend ${config.backend.type} (the server's own settings decide)`);
  }
  return opts.tokenizer !== undefined ? ['--tokenizer applies to a server backend only and is ignored: the native engine uses the model directory\'s own tokenizer'] : [];
}

/** What to change when max_new_tokens cannot fit the native model's context. */
export const RUN_CONTEXT_ADVICE =
  "lower --max-new-tokens (scenario.generate_kwargs.max_new_tokens) below the context minus the prompt's tokens, " +
  "or raise --max-seq-len (backend.max_seq_len) up to the model's max_position_embeddings";

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('run one benchmark: [config.yaml] (old format accepted) plus a.b.c=value overrides and flags')
    .argument('[args...]', 'config file and/or a.b.c=value overrides');
  addRunFlags(cmd).action(async (args: string[], opts: Record<string, unknown>) => {
    const log = createLogger({ quiet: opts.quiet === true });
    const { file, overrides } = await splitArgs(args);
    const { config, warnings } = await loadConfig({ file, overrides: [...overrides, ...runOverrides(opts)] });
    assertLoadFlagsApply(opts, config);
    for (const w of [...warnings, ...ignoredFlagWarnings(opts, config)]) log.warn(w);
    const interrupt = installInterruptHandler({ onSignal: (s) => log.warn(`${s}: stopping, cancelling in-flight requests, writing finished results`) });
    const progress = createProgress('run', log, { quiet: opts.quiet === true });
    try {
      const modelName = await defaultModelLabel(config);
      if (modelName) log.warn(DEFAULT_MODEL_NOTICE);
      const outcome = await whileWritingFiles(() => runConfigured(config, withContextCheck(pipelineDeps({
        log: (m) => log.info(m), signal: interrupt.signal, onProgress: (e) => progress.update(e), onRecord: (r) => progress.record(r),
      }), RUN_CONTEXT_ADVICE), modelName ? { modelName } : {}));
      progress.stop();
      if (opts.json) printJsonLine(runJson(outcome, { model: modelName ?? config.backend.model }));
      else if (outcome.summary) {
        const serverSide = formatServerSide(outcome.result?.serverMetrics ?? null, outcome.result?.clientCalibration ?? null);
        writeStdout(formatSummary(`run ${outcome.runId} (${outcomeLabel(outcome)})`, outcome.summary, runErrorMessage(outcome.summary)) +
          (serverSide ? `\n${serverSide}` : '') + `\nresults: ${outcome.files.dir}\n`);
      }
      if (outcome.status === 'failed') log.error(`run failed: ${outcome.error}`);
      process.exitCode = outcomeExitCode(outcome, interrupt.exitCode());
    } finally {
      progress.stop();
      interrupt.dispose();
    }
  });
}
