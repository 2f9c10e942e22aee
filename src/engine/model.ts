// NativeModel: one TS object per native model. Generations on one model run one at a time in
// call order (later calls queue; a queued call can still be aborted). dispose() is idempotent.
import type { AddonGenerateOptions, AddonModel } from '../native/addon.js';
import { holdEventLoopHot } from './busy-poll.js';
import { TokenQueue } from './token-stream.js';
import { abortedBeforeStart, toGenerationResult } from './result.js';
import type { GenerateOptions, GenerationResult, ModelInfo, TokenStream } from './types.js';
import { validateGenerateArgs } from './validate.js';

/** An Error with a stable `code`, as every engine failure is. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** Points a native error's stack at the user's call instead of the event loop. */
export function withCallSite(error: unknown, callSite: Error): unknown {
  if (error instanceof Error && callSite.stack) {
    const frames = callSite.stack.split('\n').slice(1).join('\n');
    error.stack = `${error.name}: ${error.message}\n${frames}`;
  }
  return error;
}

interface Job {
  started: boolean;
  aborted: boolean;
}

export class NativeModel {
  readonly info: ModelInfo;
  readonly #native: AddonModel;
  #tail: Promise<unknown> = Promise.resolve();
  #running: Job | undefined;
  #queued = 0;
  #disposed = false;

  /** @internal Use loadModel(). */
  constructor(native: AddonModel) {
    this.#native = native;
    const info = native.info;
    this.info = Object.freeze({ ...info, eosIds: Object.freeze([...info.eosIds]) as number[] });
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Generations running or queued. */
  get pending(): number {
    return this.#queued;
  }

  /**
   * Starts (or queues) a generation. Tokens arrive through the returned stream's async
   * iterator; `await stream.result` runs to completion without iterating. Breaking out of the
   * iteration aborts the generation.
   */
  generate(promptIds: number[], options?: GenerateOptions): TokenStream {
    if (this.#disposed) throw new EngineError('MODEL_DISPOSED', 'the model has been disposed');
    const { promptIds: ids, opts } = validateGenerateArgs(promptIds, options, this.info);
    const callSite = new Error();
    const job: Job = { started: false, aborted: false };
    let stream: TokenQueue | undefined;
    const result = this.#enqueue(() => this.#run(job, ids, opts, (e) => stream!.push(e)), callSite);
    stream = new TokenQueue(result, () => this.#abort(job));
    return stream;
  }

  /** Aborts the running generation (if any), joins the native thread and frees the weights. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#native.dispose();
  }

  #enqueue(run: () => Promise<GenerationResult>, callSite: Error): Promise<GenerationResult> {
    this.#queued++;
    const p = this.#tail.then(run).finally(() => {
      this.#queued--;
    });
    this.#tail = p.catch(() => {});
    return p.catch((error: unknown) => {
      throw withCallSite(error, callSite);
    });
  }

  #abort(job: Job): void {
    job.aborted = true;
    if (job.started && this.#running === job) this.#native.abort();
  }

  async #run(
    job: Job,
    ids: number[],
    opts: GenerateOptions,
    onToken: (e: { id: number; index: number; timeNs: bigint }) => void,
  ): Promise<GenerationResult> {
    if (this.#disposed) throw new EngineError('MODEL_DISPOSED', 'the model was disposed before this generation started');
    const { signal } = opts;
    if (job.aborted || signal?.aborted) return abortedBeforeStart(ids.length);
    const native: AddonGenerateOptions = { ...opts };
    delete (native as GenerateOptions).signal;
    delete (native as GenerateOptions).busyPoll;
    const onAbort = (): void => this.#abort(job);
    signal?.addEventListener('abort', onAbort, { once: true });
    job.started = true;
    this.#running = job;
    const releaseLoop = opts.busyPoll ? holdEventLoopHot() : undefined;
    try {
      const raw = this.#native.generate(ids, native, (id, index, timeNs) => onToken({ id, index, timeNs }));
      if (job.aborted) this.#native.abort(); // aborted between the checks above and the start
      return toGenerationResult(await raw);
    } finally {
      releaseLoop?.();
      this.#running = undefined;
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
