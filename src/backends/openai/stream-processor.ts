// Turns the bytes of one OpenAI-compatible streaming response into a timeline: the stamps
// of content-bearing chunks with their token deltas, the text, usage and the outcome.
// Pure: the caller stamps each read (process.hrtime.bigint() when the bytes arrived, before
// any parsing) and passes the stamp with the bytes. Never throws on server input.

import { SseParser, type SseEvent } from '../../sse/index.js';
import { THINK_TAGS, ThinkMarkerScanner, type ThinkMarkers } from '../../text/think-marker.js';
import { clearKeepingCapacity } from '../../util/clear-array.js';

/** One content-bearing chunk. */
export interface ContentChunk {
  /** Arrival stamp of the read that completed this event. */
  ns: bigint;
  /** completion_tokens delta from continuous usage; null when the server does not send it. */
  tokens: number | null;
  /** Carries answer (non-reasoning) content. */
  answer: boolean;
  /** Carries reasoning content. */
  reasoning: boolean;
}

export interface StreamUsage {
  promptTokens: number | null;
  completionTokens: number | null;
  reasoningTokens: number | null;
}

export type StreamOutcome =
  | { state: 'open' }
  | { state: 'done'; ns: bigint; viaDoneMarker: boolean }
  | { state: 'failed'; ns: bigint; error: string };

const MAX_ERROR_SNIPPET = 300;

/**
 * The events of the feed() in progress, shared by every processor: feed() is not re-entrant
 * (nothing it calls feeds another processor) and empties it before returning.
 */
const feedEvents: SseEvent[] = [];

/** Shared by every open stream (an outcome is replaced, never mutated). */
const OPEN: StreamOutcome = Object.freeze({ state: 'open' });

function snippet(s: string): string {
  return s.length > MAX_ERROR_SNIPPET ? `${s.slice(0, MAX_ERROR_SNIPPET)}…` : s;
}

function asRecord(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function finiteCount(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}

/** Message of an error object as servers send it (`{error:{message}}`, `{error:"…"}`, `{object:"error",message}`). */
export function serverErrorMessage(payload: unknown): string | null {
  const obj = asRecord(payload);
  if (obj === null) return null;
  const err = obj['error'];
  if (typeof err === 'string' && err.length > 0) return err;
  const errObj = asRecord(err);
  if (errObj !== null) {
    const msg = errObj['message'];
    const parts = [typeof msg === 'string' ? msg : JSON.stringify(errObj)];
    if (typeof errObj['type'] === 'string') parts.push(`(type ${errObj['type']})`);
    return parts.join(' ');
  }
  if (obj['object'] === 'error' && typeof obj['message'] === 'string') return obj['message'];
  return null;
}

/** Flags of a timeline entry. */
const ANSWER = 1;
const REASONING = 2;
/** Carries `content` / `text` (answer, or thinking streamed as content before the marker). */
const CONTENT = 4;
/** Content before the end-of-thinking marker (thinking streamed as content). */
const THINK = 8;

export interface StreamProcessorOptions {
  /**
   * The request asked for reasoning: when the server runs no reasoning parser, the thinking
   * arrives as `content` ending with `</think>`, and the answer (TTFO) starts after it.
   */
  thinkMarker?: boolean;
  /** The format's markers when they are not `<think>`…`</think>` (Granite's phrases). */
  thinkMarkers?: ThinkMarkers;
}

export class OpenAIStreamProcessor {
  private readonly parser = new SseParser();
  /**
   * Content-bearing chunks, flat: per chunk [ns − firstChunkNs, tokens + 1 (0 = unknown), flags].
   * Plain numbers in one array (unboxed doubles), not an object and a BigInt per chunk: the
   * timeline lives as long as its request, so at high concurrency every byte of it is copied
   * by young-generation GCs. Offsets from the first chunk are exact as doubles (< 2^53 ns).
   */
  private readonly timeline: number[] = [];
  private firstChunkNs = 0n;
  /** The last stamp converted to an offset from firstChunkNs, and that offset (ns). */
  private lastStampNs = -1n;
  private lastOffsetNs = 0;
  /**
   * How late the first content chunk's stamp can be because the client's socket thread was
   * busy when its bytes may have arrived (an upper bound, ms); null when the caller gave none.
   */
  firstChunkSlackMs: number | null = null;
  /** Slack of the read being fed. */
  private feedSlackMs: number | null = null;
  private readonly textParts: string[] = [];
  private readonly reasoningParts: string[] = [];
  readonly usage: StreamUsage = { promptTokens: null, completionTokens: null, reasoningTokens: null };
  /** Some chunk with choices carried usage: completion_tokens deltas are real token counts. */
  continuousUsage = false;
  finishReason: string | null = null;
  toolCallChunks = 0;
  events = 0;
  /** feed() calls: network reads of the response body. */
  reads = 0;
  outcome: StreamOutcome = OPEN;
  private prevCompletionTokens = 0;
  /** A content-bearing chunk came without usage: later usage cannot be per-chunk (continuous). */
  private contentWithoutUsage = false;
  /** Sum of token deltas of reasoning-only chunks (continuous usage). */
  private reasoningTokenSum = 0;
  /** Thinking streamed as content: the marker scanner, and the token deltas of its chunks. */
  private readonly think: ThinkMarkerScanner | null;
  private thinkTokenSum = 0;

  constructor(options: StreamProcessorOptions = {}) {
    this.think = options.thinkMarker ? new ThinkMarkerScanner(options.thinkMarkers ?? THINK_TAGS) : null;
  }

  /**
   * Thinking came as content: its end marker was seen, or the content opened `<think>` and was
   * cut off before closing it (max_tokens mid-thought: no answer at all). Else content chunks
   * are the answer.
   */
  private get thoughtInContent(): boolean {
    return this.think !== null && (this.think.markerSeen || this.think.thinkingOpened) && this.reasoningParts.length === 0;
  }

  /** Content-bearing chunks received so far. */
  get chunkCount(): number {
    return this.timeline.length / 3;
  }

  /** The content-bearing chunks, as objects (allocates them: call once, when the request is over). */
  contentChunks(): ContentChunk[] {
    const t = this.timeline;
    const out: ContentChunk[] = [];
    // Before the end marker is seen, content is provisionally thinking; a stream that never
    // shows the marker had no thinking in its content: all of it is the answer.
    const split = this.thoughtInContent;
    for (let i = 0; i < t.length; i += 3) {
      const tokensPlusOne = t[i + 1]!;
      const flags = t[i + 2]!;
      const thinking = split && (flags & THINK) !== 0;
      out.push({
        ns: this.firstChunkNs + BigInt(t[i]!),
        tokens: tokensPlusOne === 0 ? null : tokensPlusOne - 1,
        answer: (flags & ANSWER) !== 0 || ((flags & CONTENT) !== 0 && !thinking),
        reasoning: (flags & REASONING) !== 0 || thinking,
      });
    }
    return out;
  }

  get text(): string {
    return this.textParts.join('');
  }

  get reasoningText(): string {
    if (this.reasoningParts.length > 0) return this.reasoningParts.join('');
    return this.thoughtInContent ? (this.think!.thinkingText(this.text) ?? '') : '';
  }

  get finished(): boolean {
    return this.outcome.state !== 'open';
  }

  get comments(): number {
    return this.parser.comments;
  }

  /**
   * Bytes that arrived at `ns` (late by at most `slackMs`, when known). Returns true once the
   * stream is finished (done or failed).
   */
  feed(bytes: Uint8Array | string, ns: bigint, slackMs?: number): boolean {
    if (this.finished) return true;
    this.reads++;
    this.feedSlackMs = slackMs ?? null;
    const events = feedEvents;
    try {
      try {
        this.parser.feedInto(bytes, events);
      } catch (err) {
        this.fail(ns, `unreadable event stream: ${(err as Error).message}`);
        return true;
      }
      for (let i = 0; i < events.length && !this.finished; i++) this.onEvent(events[i]!, ns);
    } finally {
      clearKeepingCapacity(events);
    }
    return this.finished;
  }

  /**
   * The stream ended at `ns`: the connection closed (cleanly or not; `cause` says how), or
   * (`ended` 'response') the HTTP response ended in good order. A stream without `[DONE]` is a
   * failure unless a finish_reason was seen (the generation did finish).
   */
  end(ns: bigint, cause?: string, ended: 'connection' | 'response' = 'connection'): void {
    if (this.finished) return;
    this.feedSlackMs = null; // events completed by the end of the stream: no read, no slack known
    let events: SseEvent[] = [];
    try {
      events = this.parser.end();
    } catch {
      events = [];
    }
    for (const ev of events) {
      this.onEvent(ev, ns);
      if (this.finished) return;
    }
    if (this.finishReason !== null) {
      this.outcome = { state: 'done', ns, viaDoneMarker: false };
      return;
    }
    const why = cause ? ` (${cause})` : '';
    this.fail(
      ns,
      `${ended === 'response' ? 'response ended' : 'connection closed'} before [DONE] and without a finish_reason${why} after ${this.chunkCount} content chunk(s)`,
    );
  }

  /** Mark the stream failed from outside (timeout, abort, socket error). */
  fail(ns: bigint, error: string): void {
    if (this.finished) return;
    this.outcome = { state: 'failed', ns, error };
  }

  private onEvent(ev: SseEvent, ns: bigint): void {
    this.events++;
    if (ev.type === 'error') {
      let message: string | null = null;
      try {
        message = serverErrorMessage(JSON.parse(ev.data));
      } catch {
        message = null;
      }
      this.fail(ns, `server sent an error event: ${snippet(message ?? ev.data)}`);
      return;
    }
    if (ev.type !== 'message') return; // other named events carry nothing we measure
    const data = ev.data;
    if (data.charCodeAt(0) !== 123 /* '{': the common case skips the trims */) {
      const trimmed = data.trim();
      if (trimmed.length === 0) return;
      if (trimmed === '[DONE]') {
        this.outcome = { state: 'done', ns, viaDoneMarker: true };
        return;
      }
    }
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch {
      this.fail(ns, `malformed JSON in stream event: ${snippet(data)}`);
      return;
    }
    const obj = asRecord(payload);
    if (obj === null) {
      this.fail(ns, `stream event is not a JSON object: ${snippet(data)}`);
      return;
    }
    const errMsg = serverErrorMessage(obj);
    if (errMsg !== null) {
      this.fail(ns, `server reported an error in the stream: ${snippet(errMsg)}`);
      return;
    }
    this.onChunk(obj, ns);
  }

  private onChunk(obj: Record<string, unknown>, ns: bigint): void {
    const choices = Array.isArray(obj['choices']) ? (obj['choices'] as unknown[]) : [];
    let answer = false;
    let reasoning = false;
    let tools = false;
    let content = false;
    let thinking = false;
    for (const c of choices) {
      const choice = asRecord(c);
      if (choice === null) continue;
      const fr = choice['finish_reason'];
      if (typeof fr === 'string' && fr.length > 0) this.finishReason = fr;
      // completions API
      const text = choice['text'];
      if (typeof text === 'string' && text.length > 0) {
        this.textParts.push(text);
        content = true;
        if (this.classifyContent(text)) thinking = true;
      }
      const delta = asRecord(choice['delta']);
      if (delta === null) continue;
      const deltaText = delta['content'];
      if (typeof deltaText === 'string' && deltaText.length > 0) {
        this.textParts.push(deltaText);
        content = true;
        if (this.classifyContent(deltaText)) thinking = true;
      }
      const rc = delta['reasoning_content'] ?? delta['reasoning'];
      if (typeof rc === 'string' && rc.length > 0) {
        this.reasoningParts.push(rc);
        reasoning = true;
      }
      const tc = delta['tool_calls'];
      if (Array.isArray(tc) && tc.length > 0) {
        tools = true;
        this.toolCallChunks++;
      }
    }

    let tokens: number | null = null;
    const usage = asRecord(obj['usage']);
    if (usage !== null) {
      const completion = finiteCount(usage['completion_tokens']);
      const prompt = finiteCount(usage['prompt_tokens']);
      if (prompt !== null) this.usage.promptTokens = prompt;
      const details = asRecord(usage['completion_tokens_details']);
      const rt = details === null ? null : finiteCount(details['reasoning_tokens']);
      if (rt !== null) this.usage.reasoningTokens = rt;
      if (completion !== null) {
        // Usage on a chunk that has choices is vLLM's continuous_usage_stats only when content
        // chunks carried it from the start. After content without usage it is a final total on
        // the finish chunk (llama.cpp, llama-cpp-python): no per-chunk deltas, not content.
        if (choices.length > 0 && (this.continuousUsage || !this.contentWithoutUsage)) {
          this.continuousUsage = true;
          tokens = Math.max(0, completion - this.prevCompletionTokens);
          this.prevCompletionTokens = Math.max(this.prevCompletionTokens, completion);
        }
        this.usage.completionTokens = completion;
      }
    }

    // Content-bearing: text/reasoning/tool calls, or (continuous usage) new tokens on a chunk
    // that has choices. Never the role-only opener nor a usage-only chunk.
    const newTokens = this.continuousUsage && tokens !== null && tokens > 0;
    if (!(answer || content || reasoning || tools || newTokens)) return;
    if (tokens === null && !this.continuousUsage) this.contentWithoutUsage = true;
    if (reasoning && !answer && !content) this.reasoningTokenSum += tokens ?? 0;
    if (thinking) this.thinkTokenSum += tokens ?? 0;
    if (this.timeline.length === 0) {
      this.firstChunkNs = ns;
      this.firstChunkSlackMs = this.feedSlackMs;
    }
    // Chunks of one read share its stamp: one BigInt subtraction per read, not per chunk.
    if (ns !== this.lastStampNs) {
      this.lastStampNs = ns;
      this.lastOffsetNs = Number(ns - this.firstChunkNs);
    }
    const flags = (answer || tools ? ANSWER : 0) | (reasoning ? REASONING : 0) | (content ? CONTENT : 0) | (thinking ? THINK : 0);
    this.timeline.push(this.lastOffsetNs, tokens === null ? 0 : tokens + 1, flags);
  }

  /** True when a content delta is (so far) thinking streamed as content, before the marker. */
  private classifyContent(text: string): boolean {
    return this.think !== null && this.reasoningParts.length === 0 && this.think.classify(text) === 'thinking';
  }

  /** Reasoning tokens: from usage details when given, else the continuous-usage deltas of reasoning chunks. */
  get reasoningTokens(): number | null {
    if (this.usage.reasoningTokens !== null) return this.usage.reasoningTokens;
    if (this.continuousUsage && this.reasoningParts.length > 0) return this.reasoningTokenSum;
    if (this.continuousUsage && this.thoughtInContent) return this.thinkTokenSum;
    return null;
  }
}
