// Derived timings of a generation, from the C++ steady_clock stamps (never JS-side clocks).
import type { AddonGenerationResult } from '../native/addon.js';
import type { GenerationResult } from './types.js';

const msBetween = (later: bigint, earlier: bigint): number => Number(later - earlier) / 1e6;

export function toGenerationResult(raw: AddonGenerationResult): GenerationResult {
  const tokenNs = Array.from(raw.tokenNs);
  const n = tokenNs.length;
  const decodeNs = n >= 2 ? tokenNs[n - 1]! - tokenNs[0]! : 0n;
  const result: GenerationResult = {
    ids: raw.ids,
    tokenNs,
    startNs: raw.startNs,
    prefillDoneNs: raw.prefillDoneNs,
    endNs: raw.endNs,
    promptTokens: raw.promptTokens,
    stopReason: raw.stopReason,
    ttftMs: n > 0 ? msBetween(tokenNs[0]!, raw.startNs) : null,
    prefillMs: raw.prefillDoneNs === null ? null : msBetween(raw.prefillDoneNs, raw.startNs),
    totalMs: msBetween(raw.endNs, raw.startNs),
    tokensPerSecond: decodeNs > 0n ? (n - 1) / (Number(decodeNs) / 1e9) : null,
  };
  if (raw.firstLogits) result.firstLogits = raw.firstLogits;
  return result;
}

/** The result of a generation aborted before it started (queued, or signal already aborted). */
export function abortedBeforeStart(promptTokens: number): GenerationResult {
  const now = process.hrtime.bigint();
  return {
    ids: [],
    tokenNs: [],
    startNs: now,
    prefillDoneNs: null,
    endNs: now,
    promptTokens,
    stopReason: 'aborted',
    ttftMs: null,
    prefillMs: null,
    totalMs: 0,
    tokensPerSecond: null,
  };
}
