// Builders of OpenAI/vLLM-shaped streaming scripts for the emulator, with the values a
// correct client must extract from them (text, token counts, finish reason).

import type { EmulatorStep } from './emulator.js';

export type LineEnding = '\n' | '\r\n' | '\r';

export interface EncodeOptions {
  lineEnding?: LineEnding;
  /** "data: x" (default) or "data:x". */
  dataSpace?: boolean;
  /** Named event (`event: error`). */
  eventType?: string;
}

/** One SSE event; multi-line `data` becomes several `data:` lines. */
export function encodeEvent(data: string, opts: EncodeOptions = {}): string {
  const eol = opts.lineEnding ?? '\n';
  const prefix = opts.dataSpace === false ? 'data:' : 'data: ';
  let out = opts.eventType !== undefined ? `event: ${opts.eventType}${eol}` : '';
  for (const line of data.split('\n')) out += `${prefix}${line}${eol}`;
  return out + eol;
}

export interface StreamSpec {
  api?: 'chat' | 'completions';
  model?: string;
  /** Reasoning tokens (one string per token), streamed before the answer. */
  reasoning?: string[];
  /** Answer tokens (one string per token). */
  tokens: string[];
  tokensPerChunk?: number;
  /** Role-only opening chunk (chat default true). */
  roleChunk?: boolean;
  /** Usage on every chunk (vLLM continuous_usage_stats). Default true. */
  continuousUsage?: boolean;
  /** Usage-only final chunk (`choices: []`). Default true. */
  finalUsage?: boolean;
  promptTokens?: number;
  /** Default 'stop'; null sends none. */
  finishReason?: string | null;
  /** `data: [DONE]` at the end (default true); the exact line may be given. */
  done?: boolean | string;
  /** Delay before the first content chunk (after the role chunk), ms. */
  firstTokenDelayMs?: number;
  /** Delay between content chunks, ms. */
  interChunkDelayMs?: number;
  lineEnding?: LineEnding;
  dataSpace?: boolean;
  /** `: ping` comment before every chunk. */
  pings?: boolean;
  /** Pretty-printed JSON spread over several `data:` lines. */
  multiLineData?: boolean;
  /** Split every write into pieces of this many bytes. */
  fragmentBytes?: number;
  fragmentDelayMs?: number;
  reasoningField?: 'reasoning_content' | 'reasoning';
  /** Stop after this many content chunks (before finish/usage/[DONE]), then play `tail`. */
  truncateAfterChunks?: number;
  /** Steps appended at the end (an error event, a destroy, a stall). */
  tail?: EmulatorStep[];
}

export interface ExpectedStream {
  text: string;
  reasoningText: string;
  /** completion tokens the server reports (reasoning included). */
  completionTokens: number;
  promptTokens: number;
  contentChunks: number;
  finishReason: string | null;
}

export interface BuiltStream {
  steps: EmulatorStep[];
  expected: ExpectedStream;
  /** The `data` payload of every event, in order (for parser checks). */
  events: string[];
}

function group<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function fragment(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

export function buildStream(spec: StreamSpec): BuiltStream {
  const api = spec.api ?? 'chat';
  const model = spec.model ?? 'emulated-model';
  const per = spec.tokensPerChunk ?? 1;
  const continuous = spec.continuousUsage ?? true;
  const promptTokens = spec.promptTokens ?? 7;
  const finishReason = spec.finishReason === undefined ? 'stop' : spec.finishReason;
  const reasoningField = spec.reasoningField ?? 'reasoning_content';
  const enc: EncodeOptions = {
    ...(spec.lineEnding ? { lineEnding: spec.lineEnding } : {}),
    ...(spec.dataSpace !== undefined ? { dataSpace: spec.dataSpace } : {}),
  };
  const eol = spec.lineEnding ?? '\n';
  const id = 'chatcmpl-emu';
  const created = 1_700_000_000;
  let completion = 0;

  const usage = (): Record<string, number> => ({
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion,
  });
  const chunkObject = (choice: Record<string, unknown>): Record<string, unknown> => {
    const obj: Record<string, unknown> =
      api === 'chat'
        ? { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, logprobs: null, ...choice }] }
        : { id: 'cmpl-emu', object: 'text_completion', created, model, choices: [{ index: 0, logprobs: null, ...choice }] };
    if (continuous) obj['usage'] = usage();
    return obj;
  };

  const events: string[] = [];
  const steps: EmulatorStep[] = [];
  const push = (data: string, delayMs: number, firstToken: boolean, eventType?: string): void => {
    events.push(data);
    if (spec.pings) steps.push({ write: `: ping${eol}`, delayMs });
    const text = encodeEvent(data, eventType !== undefined ? { ...enc, eventType } : enc);
    const delay = spec.pings ? 0 : delayMs;
    if (spec.fragmentBytes && spec.fragmentBytes > 0) {
      const pieces = fragment(Buffer.from(text, 'utf8'), spec.fragmentBytes);
      pieces.forEach((p, k) =>
        steps.push({
          write: p,
          delayMs: k === 0 ? delay : (spec.fragmentDelayMs ?? 0),
          // the event is complete (and visible to a client) with its last byte
          firstToken: firstToken && k === pieces.length - 1,
        }),
      );
    } else {
      steps.push({ write: text, delayMs: delay, firstToken });
    }
  };
  const serialize = (obj: unknown): string => (spec.multiLineData ? JSON.stringify(obj, null, 1) : JSON.stringify(obj));

  if (spec.roleChunk ?? api === 'chat') {
    const role = api === 'chat' ? { delta: { role: 'assistant', content: '' }, finish_reason: null } : { text: '', finish_reason: null };
    push(serialize(chunkObject(role)), 0, false);
  }

  const contentGroups: { kind: 'reasoning' | 'answer'; toks: string[] }[] = [
    ...group(spec.reasoning ?? [], per).map((toks) => ({ kind: 'reasoning' as const, toks })),
    ...group(spec.tokens, per).map((toks) => ({ kind: 'answer' as const, toks })),
  ];
  const limit = spec.truncateAfterChunks ?? contentGroups.length;
  let sent = 0;
  for (const [n, g] of contentGroups.entries()) {
    if (sent >= limit) break;
    completion += g.toks.length;
    const isLast = n === contentGroups.length - 1;
    const text = g.toks.join('');
    const fr = isLast && sent + 1 <= limit ? finishReason : null;
    const choice =
      api === 'chat'
        ? { delta: g.kind === 'answer' ? { content: text } : { [reasoningField]: text }, finish_reason: fr }
        : { text, finish_reason: fr };
    push(serialize(chunkObject(choice)), n === 0 ? (spec.firstTokenDelayMs ?? 0) : (spec.interChunkDelayMs ?? 0), n === 0);
    sent++;
  }
  const complete = sent === contentGroups.length;
  if (complete) {
    if (spec.finalUsage ?? true) {
      const obj = api === 'chat'
        ? { id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage() }
        : { id: 'cmpl-emu', object: 'text_completion', created, model, choices: [], usage: usage() };
      push(serialize(obj), 0, false);
    }
    const done = spec.done ?? true;
    if (done !== false) {
      const line = typeof done === 'string' ? done : spec.dataSpace === false ? 'data:[DONE]' : 'data: [DONE]';
      events.push('[DONE]');
      steps.push({ write: `${line}${eol}${eol}` });
    }
  }
  if (spec.tail) steps.push(...spec.tail);

  const reasoningTokens = spec.reasoning ?? [];
  return {
    steps,
    events,
    expected: {
      text: spec.tokens.slice(0, Math.max(0, (limit - group(reasoningTokens, per).length) * per)).join(''),
      reasoningText: reasoningTokens.slice(0, limit * per).join(''),
      completionTokens: completion,
      promptTokens,
      contentChunks: sent,
      finishReason: complete ? finishReason : null,
    },
  };
}

/** An error reported inside a 200 stream, as vLLM (`data: {"error":…}`) or as `event: error`. */
export function errorEventStep(message: string, style: 'data' | 'event', opts: EncodeOptions = {}): EmulatorStep {
  const payload = JSON.stringify({ error: { object: 'error', message, type: 'InternalServerError', code: 500 } });
  return { write: encodeEvent(payload, style === 'event' ? { ...opts, eventType: 'error' } : opts) };
}
