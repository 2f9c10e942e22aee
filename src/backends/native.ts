// Backend over the in-process libtorch engine. Every timing comes from the C++ steady_clock
// stamps (generate start, prefill done, one stamp per token), which share the clock of
// process.hrtime.bigint() and so join the energy timeline directly.
import { loadModel, type GenerateOptions, type GenerationResult, type NativeModel } from '../engine/index.js';
import { StreamDecoder } from '../text/detokenizer.js';
import { ThinkMarkerScanner, type ThinkMarkers } from '../text/think-marker.js';
import type {
  Backend,
  BackendDescription,
  GenerationSettings,
  PromptInput,
  RequestRecord,
} from './types.js';

export interface NativeBackendOptions {
  modelPath: string;
  device?: string;
  dtype?: 'f32' | 'bf16' | 'f16';
  threads?: number;
  maxSeqLen?: number;
  /** Prompt → token ids (chat template applied by the caller). Without it prompts need promptIds. */
  encode?: (prompt: PromptInput) => Promise<number[]>;
  /** Ids → text (for RequestRecord.text and stop strings). Without it text is ''. */
  decode?: (ids: number[]) => string;
}

const FINISH_REASON: Record<GenerationResult['stopReason'], string> = {
  stop_id: 'stop',
  max_new_tokens: 'length',
  aborted: 'abort',
};

const ms = (later: bigint, earlier: bigint): number => Number(later - earlier) / 1e6;

/** Request timings from the engine's stamps (RequestRecord semantics, see backends/types.ts). */
export function timingsFromResult(r: GenerationResult): Pick<
  RequestRecord,
  'ttftMs' | 'ttstMs' | 'e2eMs' | 'tpotMs' | 'prefillMs' | 'itlMs' | 'iclMs'
> {
  const t = r.tokenNs;
  const n = t.length;
  const itlMs = t.slice(1).map((ns, i) => ms(ns, t[i]!));
  const ttftMs = n > 0 ? ms(t[0]!, r.startNs) : null;
  const e2eMs = n > 0 ? ms(t[n - 1]!, r.startNs) : null;
  return {
    ttftMs,
    ttstMs: n > 1 ? ms(t[1]!, t[0]!) : null,
    e2eMs,
    tpotMs: n > 1 && ttftMs !== null && e2eMs !== null ? (e2eMs - ttftMs) / (n - 1) : null,
    prefillMs: r.prefillDoneNs === null ? null : ms(r.prefillDoneNs, r.startNs),
    itlMs,
    iclMs: itlMs,
  };
}

function truncateResult(r: GenerationResult, n: number): GenerationResult {
  if (r.ids.length <= n) return r;
  const tokenNs = r.tokenNs.slice(0, n);
  return { ...r, ids: r.ids.slice(0, n), tokenNs, endNs: tokenNs[n - 1]!, stopReason: 'stop_id' };
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

function failedRecord(index: number, startNs: bigint, error: string, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    index,
    success: false,
    error,
    startNs,
    endNs: process.hrtime.bigint(),
    queueMs: 0,
    ttftMs: null,
    ttfoMs: null,
    ttstMs: null,
    e2eMs: null,
    tpotMs: null,
    prefillMs: null,
    itlMs: [],
    iclMs: [],
    promptTokens: null,
    completionTokens: null,
    tokenCountSource: 'engine',
    text: '',
    finishReason: null,
    ...extra,
  };
}

/**
 * TTFO of a native reasoning run: the token whose text starts the answer (ThinkMarkerScanner).
 * Without a marker (or without a decoder) TTFO stays unknown (null), never guessed.
 */
export class AnswerStartTracker {
  private readonly scanner: ThinkMarkerScanner;
  private answerToken = -1;

  constructor(markers?: ThinkMarkers) {
    this.scanner = new ThinkMarkerScanner(markers);
  }

  observe(delta: string, tokenIndex: number): void {
    if (this.answerToken < 0 && this.scanner.classify(delta) === 'answer') this.answerToken = tokenIndex;
  }

  ttfoMs(result: GenerationResult): number | null {
    const t = result.tokenNs[this.answerToken];
    return this.answerToken >= 0 && t !== undefined ? ms(t, result.startNs) : null;
  }

  /** The thinking part of the text (tags excluded), once the marker was seen. */
  reasoningText(text: string): string | undefined {
    return this.scanner.thinkingText(text);
  }
}

export function createNativeBackend(opts: NativeBackendOptions): Backend {
  let model: NativeModel | undefined;
  let loading: Promise<NativeModel> | undefined; // concurrent open() calls share one load

  const engineOptions = (settings: GenerationSettings): GenerateOptions => {
    const o: GenerateOptions = {
      maxNewTokens: settings.maxNewTokens,
      minNewTokens: settings.minNewTokens,
      temperature: settings.temperature,
    };
    if (settings.topP !== undefined) o.topP = settings.topP;
    if (settings.topK !== undefined) o.topK = settings.topK;
    if (settings.seed !== undefined) o.seed = settings.seed;
    if (settings.stopIds !== undefined) o.stopIds = settings.stopIds;
    else if (settings.ignoreEos) o.stopIds = [];
    return o;
  };

  return {
    kind: 'native',

    async open(signal?: AbortSignal): Promise<BackendDescription> {
      signal?.throwIfAborted();
      if (!loading) {
        const load: Parameters<typeof loadModel>[1] = {};
        if (opts.device !== undefined) load.device = opts.device;
        if (opts.dtype !== undefined) load.dtype = opts.dtype;
        if (opts.threads !== undefined) load.threads = opts.threads;
        if (opts.maxSeqLen !== undefined) load.maxSeqLen = opts.maxSeqLen;
        loading = loadModel(opts.modelPath, load);
        loading.catch(() => {
          loading = undefined; // a later open() may retry
        });
      }
      model = await loading;
      const info = model.info;
      const cuda = /^cuda(?::(\d+))?$/.exec(info.device);
      const description: BackendDescription = {
        backend: 'native',
        model: opts.modelPath,
        device: info.device,
        dtype: info.dtype,
        details: {
          architecture: info.architecture,
          format: info.format,
          numParameters: info.numParameters,
          weightBytes: info.weightBytes,
          vocabSize: info.vocabSize,
          maxSeqLen: info.maxSeqLen,
          threads: info.threads,
        },
      };
      if (cuda) description.gpuOrdinals = [Number(cuda[1] ?? 0)];
      return description;
    },

    async generate(prompt: PromptInput, settings: GenerationSettings, signal?: AbortSignal): Promise<RequestRecord> {
      const requestStart = process.hrtime.bigint();
      if (!model) throw new Error('native backend: generate() called before open()');
      const m = model;
      let ids: number[];
      try {
        if (prompt.promptIds) ids = prompt.promptIds;
        else if (opts.encode) ids = await opts.encode(prompt);
        else return failedRecord(prompt.index, requestStart, 'prompt has no promptIds and the native backend was given no tokenizer (encode)');
      } catch (err) {
        return failedRecord(prompt.index, requestStart, `tokenization failed: ${errorText(err)}`);
      }

      const stopController = new AbortController(); // stop strings
      const signals = [stopController.signal];
      if (signal) signals.push(signal);
      const timeout = settings.timeoutMs ? AbortSignal.timeout(settings.timeoutMs) : undefined;
      if (timeout) signals.push(timeout);

      const decoder = opts.decode
        ? new StreamDecoder(
            { decode: (d) => opts.decode!([...d]) },
            { eosIds: settings.stopIds ?? (settings.ignoreEos ? [] : m.info.eosIds), stopStrings: settings.stopStrings ?? [] },
          )
        : undefined;
      let text = '';
      // Reasoning runs: the answer starts after the end-of-thinking marker (TTFO, reasoning text).
      const answerAfter = settings.reasoning?.enabled ? new AnswerStartTracker(settings.reasoning.thinkMarkers) : undefined;
      let stoppedByString = false;
      let tokensUsed = 0; // tokens up to and including the one that completed a stop string

      let result: GenerationResult;
      try {
        const stream = m.generate(ids, { ...engineOptions(settings), signal: AbortSignal.any(signals) });
        for await (const ev of stream) {
          if (!decoder || stoppedByString) continue;
          const step = decoder.push(ev.id);
          text += step.delta;
          answerAfter?.observe(step.delta, ev.index);
          if (step.stopped && step.stopReason === 'stop_string') {
            stoppedByString = true;
            tokensUsed = ev.index + 1;
            stopController.abort();
          }
        }
        result = await stream.result;
        // Tokens the engine made after the stop string (before the abort landed) are discarded,
        // as an OpenAI-compatible server would: they count neither as output nor in the timings.
        if (stoppedByString) result = truncateResult(result, tokensUsed);
      } catch (err) {
        return failedRecord(prompt.index, requestStart, errorText(err), { promptTokens: ids.length });
      }
      if (decoder && !stoppedByString) text += decoder.finish().delta;

      const timings = timingsFromResult(result);
      const base: RequestRecord = {
        index: prompt.index,
        success: true,
        startNs: result.startNs,
        endNs: result.endNs,
        queueMs: ms(result.startNs, requestStart),
        ...timings,
        ttfoMs: answerAfter ? answerAfter.ttfoMs(result) : timings.ttftMs,
        ...(answerAfter?.reasoningText(text) !== undefined ? { reasoningText: answerAfter.reasoningText(text) } : {}),
        promptTokens: result.promptTokens,
        completionTokens: result.ids.length,
        tokenCountSource: 'engine',
        text,
        finishReason: stoppedByString ? 'stop' : FINISH_REASON[result.stopReason],
      };
      if (result.stopReason === 'aborted' && !stoppedByString) {
        const why = timeout?.aborted ? `timeout after ${settings.timeoutMs} ms` : 'aborted';
        return { ...base, success: false, error: why };
      }
      return base;
    },

    async close(): Promise<void> {
      const pending = loading;
      loading = undefined;
      model = undefined;
      (await pending?.catch(() => undefined))?.dispose();
    },
  };
}
