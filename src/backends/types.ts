// The one interface every backend implements (native libtorch engine, OpenAI-compatible HTTP
// client, scripted test backends). The runner owns the load plan, energy windows and results;
// a backend only turns one prompt into one RequestRecord.
import type { ThinkMarkers } from '../text/think-marker.js';

/** Reasoning switch as resolved by the formatter registry ("Off" always means off). */
export interface ReasoningSettings {
  enabled: boolean;
  /** e.g. { reasoning_effort: 'high' } or { enable_thinking: true, thinking_budget: 512 } */
  params: Record<string, unknown>;
  /**
   * How the model's thinking opens and ends when it arrives as text (no reasoning parser on the
   * server, or the native engine's tokens): `<think>`…`</think>` when absent.
   */
  thinkMarkers?: ThinkMarkers;
}

/** One prompt of the dataset, as the runner hands it over. */
export interface PromptInput {
  /** Index of the prompt in the dataset (stable across runs). */
  index: number;
  /** Raw prompt text (the user message). */
  text: string;
  /** Pre-tokenized prompt (token-id datasets, `aeb generate --prompt-ids`). */
  promptIds?: number[];
  /**
   * Chat messages prepared by the formatter (system flags such as `/no_think`, harmony
   * `Reasoning: low`). When absent, a chat backend sends `[{role:'user', content:text}]`.
   */
  messages?: ChatMessage[];
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string;
}

export interface GenerationSettings {
  maxNewTokens: number;
  minNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  topK?: number;
  seed?: number;
  ignoreEos?: boolean;
  stopIds?: number[];
  stopStrings?: string[];
  reasoning?: ReasoningSettings;
  /** Per-request timeout in ms (0/undefined = none). */
  timeoutMs?: number;
}

/** Where a token count came from: the server's usage, the engine itself, or a client tokenizer (fallback). */
export type TokenCountSource = 'usage' | 'engine' | 'tokenizer' | 'unknown';

/**
 * One finished (or failed) request. Durations are milliseconds (float); `null` = not observed
 * (never a fake 0). Absolute stamps are process.hrtime.bigint() / steady_clock nanoseconds so
 * they can be joined with the energy timeline.
 */
export interface RequestRecord {
  index: number;
  success: boolean;
  error?: string;
  /** Warmup requests are recorded but excluded from statistics. */
  warmup?: boolean;
  startNs: bigint;
  endNs: bigint;
  /** Client-side queueing before the request was handed to the backend/socket. */
  queueMs: number;
  /** First content-bearing token/event (reasoning included). */
  ttftMs: number | null;
  /**
   * How late the first token's arrival stamp can be because the client was busy when its bytes
   * may have arrived (ms, an upper bound; HTTP only: the native engine stamps in C++). Absent
   * or null when not measured.
   */
  ttftSlackMs?: number | null;
  /** First answer (non-reasoning) content. */
  ttfoMs: number | null;
  /** Second content event − first. */
  ttstMs: number | null;
  /** Last content-bearing event − start. */
  e2eMs: number | null;
  /** (e2e − ttft) / (completionTokens − 1). */
  tpotMs: number | null;
  /** Native prefill time (prompt forward done − start). */
  prefillMs?: number | null;
  /** Per-token inter-token latencies. */
  itlMs: number[];
  /** Raw inter-chunk gaps (HTTP); equals itlMs for the native engine. */
  iclMs: number[];
  promptTokens: number | null;
  completionTokens: number | null;
  reasoningTokens?: number | null;
  tokenCountSource: TokenCountSource;
  text: string;
  reasoningText?: string;
  finishReason?: string | null;
  /** Measurement caveats, e.g. several tokens per chunk (ITL split evenly). */
  warnings?: string[];
}

export interface BackendDescription {
  /** 'native' | 'openai' | … */
  backend: string;
  model: string;
  device?: string;
  dtype?: string;
  /** CUDA ordinals doing the work (for GPU energy attribution), when known. */
  gpuOrdinals?: number[];
  details?: Record<string, unknown>;
  /** What the user should know about how this backend will measure (become the run's warnings). */
  warnings?: string[];
}

export interface Backend {
  readonly kind: string;
  /** Load the model / check the server. Throws a clear Error when it cannot. */
  open(signal?: AbortSignal): Promise<BackendDescription>;
  /**
   * Run one request. Request-level failures are returned as `success: false` records,
   * never thrown; only programming errors throw.
   */
  generate(prompt: PromptInput, settings: GenerationSettings, signal?: AbortSignal): Promise<RequestRecord>;
  /** Release native memory / sockets. Idempotent. */
  close(): Promise<void>;
}
