// The one hand-written TypeScript view of the native addon (build/Release/aeb.node).
// Keep in sync with native/binding/addon.cpp, convert.cpp, model_host.cpp, nvml_binding.cpp.
// Callers use src/engine (validated, typed API); this raw surface trusts nothing but still
// throws TypeError/RangeError for malformed arguments.

export interface AddonModelInfo {
  architecture: string;
  format: string;
  device: string;
  dtype: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxSeqLen: number;
  numParameters: number;
  /** Bytes of weights read per decode step (the bandwidth-limit denominator). */
  weightBytes: number;
  eosIds: number[];
  threads: number;
}

export interface AddonRuntimeInfo {
  torchVersion: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  cudaDeviceNames: string[];
  blas: string;
  threads: number;
  parallelInfo: string;
  sdpaAvailable: boolean;
  /** What the first model load did to malloc's thresholds (native/core/allocator_tuning.h). */
  allocator: string;
}

export interface AddonLoadOptions {
  /** 'cpu' | 'cuda' | 'cuda:N' (default 'cpu'). */
  device?: string;
  /** Compute dtype (default 'f32'); f16 needs CUDA. */
  dtype?: 'f32' | 'bf16' | 'f16';
  /** Intra-op CPU threads (default: available cores). */
  threads?: number;
  /** KV-cache capacity in tokens (default min(config max_position_embeddings, 4096)). */
  maxSeqLen?: number;
}

export interface AddonGenerateOptions {
  /** Default 128. */
  maxNewTokens?: number;
  /** Stop ids are ignored until this many tokens exist (default 0). */
  minNewTokens?: number;
  /** Present = replaces the model's eos ids (an empty list disables stopping on ids). */
  stopIds?: number[];
  /** 0 = greedy (default). */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Copy the logits of the first generated step into result.firstLogits. */
  returnFirstLogits?: boolean;
}

export interface AddonGenerationResult {
  ids: number[];
  /** steady_clock ns, one per generated id. */
  tokenNs: BigInt64Array;
  startNs: bigint;
  /** null when aborted before the prompt's forward finished. */
  prefillDoneNs: bigint | null;
  endNs: bigint;
  promptTokens: number;
  stopReason: 'stop_id' | 'max_new_tokens' | 'aborted';
  firstLogits?: Float32Array;
}

/** Called on the main thread once per generated token, in order. Must not throw. */
export type AddonTokenCallback = (id: number, index: number, timeNs: bigint) => void;

export interface AddonModel {
  readonly info: AddonModelInfo;
  /** A load or generation is in flight. */
  readonly busy: boolean;
  readonly disposed: boolean;
  /** Throws Error{code:'ENGINE_BUSY'} when a generation is running, {code:'MODEL_DISPOSED'} after dispose(). */
  generate(
    promptIds: number[] | Int32Array,
    options: AddonGenerateOptions,
    onToken?: AddonTokenCallback,
  ): Promise<AddonGenerationResult>;
  /** Sets the cancel flag of the running generation (polled before each decode step). */
  abort(): boolean;
  /** Idempotent: aborts, joins the model's thread (≤ one decode step) and frees the weights. */
  dispose(): void;
}

export interface AddonBandwidth {
  bestGBps: number;
  medianGBps: number;
  bytes: number;
  threads: number;
  repeats: number;
}

/** Opaque NVML session handle (an N-API External). */
export type AddonNvmlSession = { readonly __nvmlSession: unique symbol };

export interface NativeAddon {
  loadModel(path: string, options: AddonLoadOptions): Promise<AddonModel>;
  runtimeInfo(): AddonRuntimeInfo;
  /** std::chrono::steady_clock now, ns: the clock of TokenEvent.timeNs (== process.hrtime.bigint()). */
  steadyNowNs(): bigint;
  /** Synchronous memory-read bandwidth probe (blocks the event loop while it runs). */
  measureReadBandwidth(bytes: number, threads: number, repeats: number): AddonBandwidth;
  // NVML (native/binding/nvml_binding.cpp; wrapped by src/energy/nvml-adapter.ts).
  nvmlOpen(path?: string): AddonNvmlSession;
  nvmlInfo(session: AddonNvmlSession): { path: string; deviceCount: number; missingFunctions: string[] };
  nvmlDevices(session: AddonNvmlSession): Array<{
    index: number;
    name: string | null;
    busId: string | null;
    uuid: string | null;
    errors: Record<string, string>;
  }>;
  nvmlRead(
    session: AddonNvmlSession,
    indices: number[],
    fields: number,
  ): Promise<
    Array<{
      index: number;
      tNs: bigint;
      values: Record<string, number | null>;
      errors: Record<string, { code: number; message: string }>;
    }>
  >;
  nvmlClose(session: AddonNvmlSession): void;
  readonly nvmlFields: Readonly<Record<string, number>>;
  /**
   * Builds a TorchScript module from method source and f32 parameters and saves it
   * (native/binding/torchscript_binding.cpp). Synchronous. Errors: TypeError/RangeError,
   * code TORCHSCRIPT_SOURCE_INVALID or FILE_UNWRITABLE.
   */
  saveTorchScriptModule(args: {
    source: string;
    parameters: Record<string, { data: Float32Array; shape: number[] }>;
    attributes?: Record<string, number | number[]>;
    path: string;
  }): void;
}
