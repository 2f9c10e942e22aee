// A Backend whose behaviour per request is scripted (delay, tokens, failure, throw), with
// real timing (hrtime stamps, timers) and real AbortSignal handling. Used by runner, load,
// CLI and kill tests; it also counts concurrency so load modes can be checked.
import type { Backend, BackendDescription, GenerationSettings, PromptInput, RequestRecord } from '../../src/backends/types.js';

export interface ScriptStep {
  delayMs?: number;
  /** Return a failed record with this error. */
  fail?: string;
  /** Throw (a misbehaving backend). */
  throws?: string;
  completionTokens?: number;
  promptTokens?: number;
}

export interface ScriptedBackendOptions {
  script?: (prompt: PromptInput, call: number) => ScriptStep;
  openError?: string;
  /** Ignore the abort signal (a backend that never cancels). */
  ignoreAbort?: boolean;
  kind?: string;
}

export interface ScriptedBackend extends Backend {
  calls: number;
  inFlight: number;
  maxInFlight: number;
  opened: boolean;
  closed: boolean;
  dispatchTimesNs: bigint[];
  seenSettings: GenerationSettings[];
  seenPrompts: PromptInput[];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<boolean>((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = () => { clearTimeout(t); resolve(false); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function scriptedBackend(opts: ScriptedBackendOptions = {}): ScriptedBackend {
  const b: ScriptedBackend = {
    kind: opts.kind ?? 'scripted',
    calls: 0, inFlight: 0, maxInFlight: 0, opened: false, closed: false, dispatchTimesNs: [], seenSettings: [], seenPrompts: [],
    async open(): Promise<BackendDescription> {
      if (opts.openError) throw new Error(opts.openError);
      b.opened = true;
      return { backend: b.kind, model: 'scripted-model', device: 'cpu', dtype: 'f32' };
    },
    async generate(prompt: PromptInput, settings: GenerationSettings, signal?: AbortSignal): Promise<RequestRecord> {
      const call = b.calls++;
      b.seenSettings.push(settings);
      b.seenPrompts.push(prompt);
      const step = opts.script?.(prompt, call) ?? {};
      const startNs = process.hrtime.bigint();
      b.dispatchTimesNs.push(startNs);
      b.inFlight++;
      b.maxInFlight = Math.max(b.maxInFlight, b.inFlight);
      try {
        if (step.throws) throw new Error(step.throws);
        const finished = await sleep(step.delayMs ?? 1, opts.ignoreAbort ? undefined : signal);
        const endNs = process.hrtime.bigint();
        const totalMs = Number(endNs - startNs) / 1e6;
        const base = { index: prompt.index, startNs, endNs, queueMs: 0, itlMs: [] as number[], iclMs: [] as number[], ttstMs: null };
        if (!finished) return { ...base, success: false, error: 'aborted', ttftMs: null, ttfoMs: null, e2eMs: null, tpotMs: null, promptTokens: null, completionTokens: null, tokenCountSource: 'unknown', text: '' };
        if (step.fail) return { ...base, success: false, error: step.fail, ttftMs: null, ttfoMs: null, e2eMs: null, tpotMs: null, promptTokens: null, completionTokens: null, tokenCountSource: 'unknown', text: '' };
        const n = step.completionTokens ?? 4;
        const ttft = totalMs / 4;
        const itl = n > 1 ? Array.from({ length: n - 1 }, () => (totalMs - ttft) / (n - 1)) : [];
        return {
          ...base, success: true, ttftMs: ttft, ttfoMs: ttft, e2eMs: totalMs, tpotMs: n > 1 ? (totalMs - ttft) / (n - 1) : null,
          itlMs: itl, iclMs: itl, promptTokens: step.promptTokens ?? prompt.text.length, completionTokens: n, tokenCountSource: 'engine',
          text: 'x'.repeat(n), finishReason: 'length',
        };
      } finally {
        b.inFlight--;
      }
    },
    async close() {
      b.closed = true;
    },
  };
  return b;
}

export const promptsOf = (n: number): PromptInput[] => Array.from({ length: n }, (_, i) => ({ index: i, text: `prompt number ${i}` }));
