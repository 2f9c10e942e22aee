// `aeb generate`: one generation on the native engine, from text or token ids, with its timings.
import { Command, InvalidArgumentError } from 'commander';
import { parseDtype, type EngineDtype } from '../../config/dtype.js';
import { loadModel, type GenerateOptions, type GenerationResult, type LoadOptions } from '../../engine/index.js';
import { DEFAULT_MAX_NEW_TOKENS } from '../../engine/validate.js';
import { CliError, EXIT } from '../errors.js';
import { printJsonLine, writeStdout } from '../output.js';
import { assertNativeModelPath, DEFAULT_MODEL_NOTICE, textPipeline } from '../wiring.js';

export interface GenerateCommandOptions {
  /** Checkpoint directory or TorchScript file; the built-in default model when absent. */
  model?: string;
  /** Exactly one of prompt (text, through the model's tokenizer) and promptIds. */
  prompt?: string;
  promptIds?: number[];
  /** With `prompt`: tokenize the text as it is, without the model's chat template. */
  raw?: boolean;
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stopIds?: number[];
  device?: string;
  dtype?: EngineDtype;
  threads?: number;
  /** KV cache length (prompt + new tokens); default: the engine's (min of the model's limit and 2,048). */
  maxSeqLen?: number;
}

/** The --json object (snake_case, milliseconds). */
export interface GenerateReport {
  model: string;
  device: string;
  dtype: string;
  threads: number;
  /** The text that was tokenized (after the chat template), when the prompt was text. */
  prompt_text?: string;
  prompt_ids: number[];
  generated_ids: number[];
  /** The generated ids as text (special tokens skipped), when the model has a tokenizer. */
  text?: string;
  stop_reason: GenerationResult['stopReason'];
  prompt_tokens: number;
  load_ms: number;
  ttft_ms: number | null;
  /** null when the prompt's forward never finished (aborted). */
  prefill_ms: number | null;
  total_ms: number;
  tokens_per_second: number | null;
  /** Per generated token: its stamp − generation start. */
  token_times_ms: number[];
}

export function parseIdList(text: string, what = 'token id list'): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new InvalidArgumentError(`expected a comma-separated ${what} such as 1,2,3; got "${text}"`);
  }
  return parts.map((p) => {
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(Number(p))) {
      throw new InvalidArgumentError(`"${p}" in "${text}" is not a non-negative integer token id`);
    }
    return Number(p);
  });
}

const intArg = (name: string, min: number) => (v: string): number => {
  if (!/^-?\d+$/.test(v.trim()) || Number(v) < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}"`);
  return Number(v);
};
const numArg = (name: string) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
  return n;
};

/** --dtype: the same spellings as `aeb run --dtype` and backend.torch_dtype ('auto' = the engine's default). */
function dtypeArg(v: string): EngineDtype | undefined {
  try {
    return parseDtype(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Prompt ids the model's vocabulary lacks, named by the flag that gave them. */
export function checkPromptIds(ids: readonly number[], vocabSize: number): void {
  const bad = ids.find((id) => id >= vocabSize);
  if (bad !== undefined) throw new CliError(`--prompt-ids value ${bad} is outside the vocabulary [0, ${vocabSize - 1}] of this model`, EXIT.USAGE);
}

/** Engine failures become CLI errors with the engine's code in the message. */
/** The engine API's option names (its validation messages say `options.topP`) as this command's flags. */
const FLAG_OF_OPTION: Record<string, string> = {
  maxNewTokens: '--max-new-tokens', temperature: '--temperature', topK: '--top-k', topP: '--top-p', seed: '--seed',
  stopIds: '--stop-ids', device: '--device', dtype: '--dtype', threads: '--threads', maxSeqLen: '--max-seq-len',
};

function withFlagNames(message: string): string {
  return message.replace(/\boptions\.(\w+)(?:\[(\d+)\])?/g, (whole, name: string, index?: string) => {
    const flag = FLAG_OF_OPTION[name];
    if (flag === undefined) return whole;
    return index === undefined ? flag : `${flag} (entry ${Number(index) + 1})`;
  });
}

function asCliError(err: unknown, exitCode: (typeof EXIT)[keyof typeof EXIT]): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ADDON_NOT_BUILT') return err; // mapped to MISSING_COMPONENT by errors.ts
  if (code === 'ADDON_LOAD_FAILED') return new CliError((err as Error).message, EXIT.MISSING_COMPONENT, { cause: err });
  if (err instanceof RangeError || err instanceof TypeError) return new CliError(withFlagNames((err as Error).message), EXIT.USAGE, { cause: err });
  if (typeof code === 'string' && err instanceof Error) return new CliError(`${code}: ${err.message}`, exitCode, { cause: err });
  return err;
}

interface PreparedPrompt {
  ids: number[];
  text?: string;
  /** Stop ids from the tokenizer side (generation_config ∪ config ∪ tokenizer eos). */
  eosIds?: readonly number[];
  decode?: (ids: readonly number[]) => string;
}

/**
 * Token ids for the prompt: --prompt-ids as given, or --prompt through the model's tokenizer
 * and chat template (none with --raw). With ids, the generated text is decoded only when the
 * model has a tokenizer; with text, a missing tokenizer is an error naming the way out.
 */
async function preparePrompt(modelPath: string, opts: GenerateCommandOptions): Promise<PreparedPrompt> {
  const hasText = opts.prompt !== undefined;
  let pipeline: Awaited<ReturnType<typeof textPipeline>>;
  try {
    pipeline = await textPipeline(modelPath);
  } catch (e) {
    if (!hasText) return { ids: opts.promptIds! };
    const missing = /ENOENT/.test((e as Error).message);
    throw new CliError(
      missing
        ? `--prompt needs the model's tokenizer (tokenizer.json beside the checkpoint): ${(e as Error).message}. Give token ids with --prompt-ids instead`
        : `--prompt: the model's tokenizer cannot be loaded: ${(e as Error).message}`,
      EXIT.USAGE, { cause: e });
  }
  const decode = (ids: readonly number[]) => pipeline.decode(ids);
  if (!hasText) return { ids: opts.promptIds!, decode };
  const encoded = opts.raw
    ? { ids: pipeline.tokenizer.encode(opts.prompt!), text: opts.prompt! }
    : pipeline.preparePrompt({ index: 0, text: opts.prompt! });
  if (encoded.ids.length === 0) throw new CliError(`--prompt ${JSON.stringify(opts.prompt)} encodes to no tokens`, EXIT.USAGE);
  return { ids: encoded.ids, text: encoded.text ?? opts.prompt!, eosIds: pipeline.eosIds, decode };
}

export async function runGenerate(opts: GenerateCommandOptions, warn: (message: string) => void = () => {}): Promise<GenerateReport> {
  if ((opts.prompt !== undefined) === (opts.promptIds !== undefined)) {
    throw new CliError('give exactly one of --prompt TEXT and --prompt-ids 1,2,3', EXIT.USAGE);
  }
  if (opts.raw && opts.prompt === undefined) throw new CliError('--raw applies to --prompt TEXT only', EXIT.USAGE);
  if (opts.prompt === '') throw new CliError('--prompt is empty', EXIT.USAGE);
  const load: LoadOptions = {};
  if (opts.device !== undefined) load.device = opts.device;
  if (opts.dtype !== undefined) load.dtype = opts.dtype;
  if (opts.threads !== undefined) load.threads = opts.threads;
  if (opts.maxSeqLen !== undefined) load.maxSeqLen = opts.maxSeqLen;
  let modelPath = opts.model;
  if (modelPath === undefined) {
    modelPath = await (await import('../../models/default-model.js')).ensureDefaultModel();
    warn(DEFAULT_MODEL_NOTICE);
  } else {
    await assertNativeModelPath(modelPath);
  }
  const prompt = await preparePrompt(modelPath, opts);
  const t0 = process.hrtime.bigint();
  const model = await loadModel(modelPath, load).catch((e: unknown) => {
    throw asCliError(e, EXIT.RUN_FAILED);
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  try {
    if (opts.promptIds !== undefined) checkPromptIds(prompt.ids, model.info.vocabSize);
    const gen: GenerateOptions = {};
    if (opts.maxNewTokens !== undefined) gen.maxNewTokens = opts.maxNewTokens;
    if (opts.temperature !== undefined) gen.temperature = opts.temperature;
    if (opts.topK !== undefined) gen.topK = opts.topK;
    if (opts.topP !== undefined) gen.topP = opts.topP;
    if (opts.seed !== undefined) gen.seed = opts.seed;
    const stopIds = opts.stopIds ?? prompt.eosIds;
    if (stopIds !== undefined) gen.stopIds = [...stopIds];
    let r: GenerationResult;
    try {
      r = await model.generate(prompt.ids, gen).result;
    } catch (e) {
      // The engine's advice names its option; say the flag.
      if (e instanceof RangeError && /maxSeqLen/.test(e.message)) {
        const budget = gen.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
        throw new CliError(
          `the prompt (${prompt.ids.length} tokens) and --max-new-tokens ${budget} need ${prompt.ids.length + budget - 1} positions but the KV cache holds ` +
            `${model.info.maxSeqLen}: raise --max-seq-len (up to the model's max_position_embeddings) or lower --max-new-tokens`,
          EXIT.USAGE, { cause: e });
      }
      throw asCliError(e, EXIT.RUN_FAILED);
    }
    return {
      model: modelPath,
      device: model.info.device,
      dtype: model.info.dtype,
      threads: model.info.threads,
      ...(prompt.text !== undefined ? { prompt_text: prompt.text } : {}),
      prompt_ids: prompt.ids,
      generated_ids: r.ids,
      ...(prompt.decode ? { text: prompt.decode(r.ids) } : {}),
      stop_reason: r.stopReason,
      prompt_tokens: r.promptTokens,
      load_ms: loadMs,
      ttft_ms: r.ttftMs,
      prefill_ms: r.prefillMs,
      total_ms: r.totalMs,
      tokens_per_second: r.tokensPerSecond,
      token_times_ms: r.tokenNs.map((ns) => Number(ns - r.startNs) / 1e6),
    };
  } finally {
    model.dispose();
  }
}

export function formatReport(r: GenerateReport): string {
  const f = (v: number | null, unit: string, digits = 2) => (v === null ? 'n/a' : `${v.toFixed(digits)} ${unit}`);
  return [
    `model        ${r.model} (${r.device}, ${r.dtype}, ${r.threads} threads)`,
    ...(r.text !== undefined ? [`text         ${JSON.stringify(r.text)}`] : []),
    `generated    ${r.generated_ids.join(',')}`,
    `tokens       ${r.generated_ids.length} (stop: ${r.stop_reason}; prompt ${r.prompt_tokens})`,
    `load         ${f(r.load_ms, 'ms', 1)}`,
    `prefill      ${f(r.prefill_ms, 'ms', 3)}`,
    `ttft         ${f(r.ttft_ms, 'ms', 3)}`,
    `total        ${f(r.total_ms, 'ms', 3)}`,
    `decode rate  ${f(r.tokens_per_second, 'tokens/s', 1)}`,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('Generate from text or token ids with the native libtorch engine and print the text and timings')
    .option('--model <path>', 'checkpoint directory (config.json + *.safetensors) or TorchScript file (default: the built-in model)')
    .option('--prompt <text>', "prompt text, through the model's tokenizer and chat template")
    .option('--raw', 'with --prompt: tokenize the text as it is, without the chat template')
    .option('--prompt-ids <ids>', 'prompt token ids, comma-separated (e.g. 1,2,3)', (v) => parseIdList(v, 'prompt id list'))
    .option('--max-new-tokens <n>', 'generation budget (default 128)', intArg('--max-new-tokens', 1))
    .option('--temperature <t>', '0 = greedy (default)', numArg('--temperature'))
    .option('--top-k <k>', 'top-k sampling (0 = off)', intArg('--top-k', 0))
    .option('--top-p <p>', 'nucleus sampling (1 = off)', numArg('--top-p'))
    .option('--seed <s>', 'sampling seed', intArg('--seed', 0))
    .option('--stop-ids <ids>', "stop token ids (replace the model's eos ids, and the tokenizer's with --prompt)", (v) => parseIdList(v, 'stop id list'))
    .option('--device <device>', 'cpu | cuda | cuda:N (default cpu)')
    .option('--dtype <dtype>', 'compute dtype: auto (default: f32), float32/f32, bfloat16/bf16, float16/f16', dtypeArg)
    .option('--threads <n>', 'CPU threads (default: available cores)', intArg('--threads', 1))
    .option('--max-seq-len <n>', "KV cache length, prompt + new tokens (default: the model's limit, at most 2048)", intArg('--max-seq-len', 1))
    .option('--json', 'print one JSON object instead of text')
    .action(async (o: GenerateCommandOptions & { json?: boolean }) => {
      const { json, ...opts } = o;
      const report = await runGenerate(opts, (message) => process.stderr.write(`warning: ${message}\n`));
      if (json) printJsonLine(report);
      else writeStdout(`${formatReport(report)}\n`);
    });
}
