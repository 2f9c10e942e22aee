// Public types of the native engine API (see README "TypeScript engine API").
import type { AddonGenerateOptions, AddonLoadOptions, AddonModelInfo } from '../native/addon.js';

export type Dtype = 'f32' | 'bf16' | 'f16';

/** Load options: the addon's, validated in JS first (src/engine/validate.ts). */
export type LoadOptions = AddonLoadOptions;

/** What the engine reports about a loaded model (the addon's own object, passed through). */
export type ModelInfo = AddonModelInfo;

export interface GenerateOptions extends AddonGenerateOptions {
  /** Aborting ends the generation with stopReason 'aborted' (tokens so far are kept). */
  signal?: AbortSignal;
  /**
   * Keep the event loop polling while this generation runs, so token events reach JS within
   * microseconds of their C++ stamp instead of after a thread wake-up; costs one busy core
   * (and its energy) for the duration, and helps only when a core is free for it. Default
   * false. Token stamps are exact either way (taken in C++).
   */
  busyPoll?: boolean;
}

export interface TokenEvent {
  id: number;
  /** 0-based position among generated tokens. */
  index: number;
  /** C++ steady_clock ns when the id was on the host; same clock as process.hrtime.bigint(). */
  timeNs: bigint;
}

export type StopReason = 'stop_id' | 'max_new_tokens' | 'aborted';

export interface GenerationResult {
  ids: number[];
  tokenNs: bigint[];
  startNs: bigint;
  /** null when aborted before the prompt's forward finished. */
  prefillDoneNs: bigint | null;
  endNs: bigint;
  promptTokens: number;
  stopReason: StopReason;
  firstLogits?: Float32Array;
  /** First token stamp − start; null when no token was generated. */
  ttftMs: number | null;
  /** Prompt forward done − start; null when it never finished (aborted before or during it). */
  prefillMs: number | null;
  /** End − start. */
  totalMs: number;
  /** Decode rate: (n − 1) / (last token − first token); null below 2 tokens. */
  tokensPerSecond: number | null;
}

export interface TokenStream extends AsyncIterable<TokenEvent> {
  /** Settles when the generation ends; rejects with an Error carrying a `code`. */
  readonly result: Promise<GenerationResult>;
}
