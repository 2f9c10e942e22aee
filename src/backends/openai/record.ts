// Per-request metrics from a stream timeline (definitions: shared/docs/measurement.md).
// Pure: stamps in, RequestRecord out.

import type { RequestRecord, TokenCountSource } from '../types.js';
import type { ContentChunk, OpenAIStreamProcessor } from './stream-processor.js';

/** RequestRecord plus what only an HTTP stream knows. */
export interface OpenAIRequestRecord extends RequestRecord {
  /** Content-bearing chunks received. */
  contentChunks: number;
  /** Network reads of the response body (stamps taken). */
  reads: number;
  /** completionTokens / contentChunks (null when either is unknown). */
  tokensPerChunk: number | null;
  /** Per-chunk token counts came from continuous usage (else each chunk counts as 1 token for ITL). */
  perChunkTokensKnown: boolean;
  /** HTTP status of the response (null when none arrived). */
  httpStatus: number | null;
  /** Measurement caveats, e.g. several tokens per chunk. */
  warnings: string[];
}

export interface RecordContext {
  index: number;
  /** generate() was called. */
  enqueueNs: bigint;
  /** Request handed to its socket (null when it never got one). */
  startNs: bigint | null;
  endNs: bigint;
  httpStatus: number | null;
  /** Failure reason when the request failed outside the stream (HTTP status, socket, timeout). */
  error?: string;
  /** Fallback counter when the server sends no usage (labelled 'tokenizer'). */
  countTokens?: (text: string) => number;
}

const msBetween = (a: bigint, b: bigint): number => Number(b - a) / 1e6;

function interChunkGaps(chunks: ContentChunk[]): { icl: number[]; itl: number[] } {
  const icl: number[] = [];
  const itl: number[] = [];
  for (let i = 1; i < chunks.length; i++) {
    const gap = msBetween(chunks[i - 1]!.ns, chunks[i]!.ns);
    icl.push(gap);
    // Split the gap evenly over the tokens the chunk carries (1 when unknown or 0).
    const k = chunks[i]!.tokens !== null && chunks[i]!.tokens! > 0 ? chunks[i]!.tokens! : 1;
    const per = gap / k;
    for (let j = 0; j < k; j++) itl.push(per);
  }
  return { icl, itl };
}

export function buildRecord(proc: OpenAIStreamProcessor | null, ctx: RecordContext): OpenAIRequestRecord {
  const startNs = ctx.startNs ?? ctx.endNs;
  const queueMs = msBetween(ctx.enqueueNs, ctx.startNs ?? ctx.endNs);
  const chunks = proc?.contentChunks() ?? [];
  const first = chunks[0];
  const firstAnswer = chunks.find((c) => c.answer);
  const second = chunks[1];
  const last = chunks[chunks.length - 1];
  const ttftMs = first ? msBetween(startNs, first.ns) : null;
  const e2eMs = last ? msBetween(startNs, last.ns) : null;

  let error = ctx.error;
  if (error === undefined && proc !== null && proc.outcome.state === 'failed') error = proc.outcome.error;
  if (error === undefined && (proc === null || proc.outcome.state === 'open')) error = 'stream did not finish';

  const text = proc?.text ?? '';
  const reasoningText = proc?.reasoningText ?? '';
  let completionTokens = proc?.usage.completionTokens ?? null;
  let tokenCountSource: TokenCountSource = completionTokens !== null ? 'usage' : 'unknown';
  if (completionTokens === null && ctx.countTokens && proc !== null && chunks.length > 0) {
    completionTokens = ctx.countTokens(reasoningText + text);
    tokenCountSource = 'tokenizer';
  }

  const { icl, itl } = interChunkGaps(chunks);
  const tpotMs =
    ttftMs !== null && e2eMs !== null && completionTokens !== null && completionTokens > 1
      ? (e2eMs - ttftMs) / (completionTokens - 1)
      : null;
  const tokensPerChunk = completionTokens !== null && chunks.length > 0 ? completionTokens / chunks.length : null;
  const warnings: string[] = [];
  if (tokensPerChunk !== null && tokensPerChunk > 1 + 1e-9) {
    warnings.push(
      `${tokensPerChunk.toFixed(2)} tokens per chunk (> 1): ICL is per chunk, ITL splits each gap over the chunk's tokens`,
    );
  }
  if (proc !== null && chunks.length > 1 && !proc.continuousUsage) {
    warnings.push('no per-chunk usage (continuous_usage_stats): ITL assumes one token per chunk');
  }
  if (tokenCountSource === 'tokenizer') warnings.push('server sent no usage: token counts from a client tokenizer');

  const record: OpenAIRequestRecord = {
    index: ctx.index,
    success: error === undefined,
    startNs,
    endNs: ctx.endNs,
    queueMs,
    ttftMs,
    // Bytes cannot have arrived before the request went out: a busy spell before it is no lateness.
    ttftSlackMs: ttftMs !== null && proc?.firstChunkSlackMs != null ? Math.min(proc.firstChunkSlackMs, ttftMs) : null,
    ttfoMs: firstAnswer ? msBetween(startNs, firstAnswer.ns) : null,
    ttstMs: first && second ? msBetween(first.ns, second.ns) : null,
    e2eMs,
    tpotMs,
    itlMs: itl,
    iclMs: icl,
    promptTokens: proc?.usage.promptTokens ?? null,
    completionTokens,
    reasoningTokens: proc?.reasoningTokens ?? null,
    tokenCountSource,
    text,
    finishReason: proc?.finishReason ?? null,
    contentChunks: chunks.length,
    reads: proc?.reads ?? 0,
    tokensPerChunk,
    perChunkTokensKnown: proc?.continuousUsage ?? false,
    httpStatus: ctx.httpStatus,
    warnings,
  };
  if (reasoningText.length > 0) record.reasoningText = reasoningText;
  if (error !== undefined) record.error = error;
  return record;
}
