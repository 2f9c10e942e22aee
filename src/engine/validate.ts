// Argument validation for the engine API: precise TypeError/RangeError messages naming the
// option, before anything reaches native code. Pure (no addon), so unit-testable.
import type { GenerateOptions, LoadOptions } from './types.js';

/** The engine's generation budget when options.maxNewTokens is absent (native/core/engine.h). */
export const DEFAULT_MAX_NEW_TOKENS = 128;

export class EngineArgumentError extends TypeError {
  readonly code = 'INVALID_ARGUMENT';
}
export class EngineRangeError extends RangeError {
  readonly code = 'INVALID_ARGUMENT';
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (typeof v === 'string') return `string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return typeof v;
}

function assertObject(value: unknown, name: string): asserts value is Record<string, unknown> | undefined {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EngineArgumentError(`${name} must be an object, got ${describe(value)}`);
  }
}

export function checkInt(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw new EngineArgumentError(`${name} must be an integer, got ${describe(value)}`);
  if (!Number.isInteger(value)) throw new EngineRangeError(`${name} must be an integer, got ${value}`);
  if (!Number.isSafeInteger(value)) throw new EngineRangeError(`${name} must be a safe integer (|n| <= 2^53 - 1), got ${value}`);
  if (value < min || value > max) {
    throw new EngineRangeError(`${name} must be in [${min}, ${max}], got ${value}`);
  }
  return value;
}

function checkNumber(value: unknown, name: string, min: number, minExclusive: boolean, max: number): number {
  if (typeof value !== 'number') throw new EngineArgumentError(`${name} must be a number, got ${describe(value)}`);
  const low = minExclusive ? value <= min : value < min;
  if (!Number.isFinite(value) || low || value > max) {
    throw new EngineRangeError(`${name} must be a finite number ${minExclusive ? '>' : '>='} ${min} and <= ${max}, got ${value}`);
  }
  return value;
}

/** Token ids: a non-empty (unless allowEmpty) array of integers in [0, vocabSize). */
export function checkIds(value: unknown, name: string, vocabSize: number | undefined, allowEmpty: boolean): number[] {
  if (!Array.isArray(value)) throw new EngineArgumentError(`${name} must be an array of token ids, got ${describe(value)}`);
  if (!allowEmpty && value.length === 0) throw new EngineRangeError(`${name} must contain at least one token id`);
  const max = vocabSize !== undefined ? vocabSize - 1 : Number.MAX_SAFE_INTEGER;
  // Index by index (forEach skips the holes of a sparse array); the copy is what native code
  // reads, so a getter or proxy cannot change an id after it was checked.
  const ids = new Array<number>(value.length);
  for (let i = 0; i < value.length; i++) ids[i] = checkInt(value[i], `${name}[${i}]`, 0, max);
  return ids;
}

export function validateLoadArgs(path: unknown, opts: unknown): { path: string; opts: LoadOptions } {
  if (typeof path !== 'string') throw new EngineArgumentError(`path must be a string, got ${describe(path)}`);
  if (path.length === 0) throw new EngineRangeError('path must not be empty');
  if (path.includes('\0')) throw new EngineRangeError(`path must not contain a NUL character, got ${JSON.stringify(path)}`);
  assertObject(opts, 'options');
  const o = (opts ?? {}) as Record<string, unknown>;
  const out: LoadOptions = {};
  if (o.device !== undefined) {
    if (typeof o.device !== 'string') throw new EngineArgumentError(`options.device must be a string, got ${describe(o.device)}`);
    if (!/^(cpu|cuda|cuda:\d+)$/.test(o.device)) {
      throw new EngineRangeError(`options.device must be 'cpu', 'cuda' or 'cuda:N', got '${o.device}'`);
    }
    out.device = o.device;
  }
  if (o.dtype !== undefined) {
    if (o.dtype !== 'f32' && o.dtype !== 'bf16' && o.dtype !== 'f16') {
      throw new EngineRangeError(`options.dtype must be one of 'f32', 'bf16', 'f16', got ${describe(o.dtype)}`);
    }
    out.dtype = o.dtype;
  }
  if (o.threads !== undefined) out.threads = checkInt(o.threads, 'options.threads', 1, 4096);
  if (o.maxSeqLen !== undefined) out.maxSeqLen = checkInt(o.maxSeqLen, 'options.maxSeqLen', 1, 2 ** 31 - 1);
  const known = new Set(['device', 'dtype', 'threads', 'maxSeqLen']);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new EngineRangeError(`options.${k} is not a load option (known: ${[...known].join(', ')})`);
  }
  return { path, opts: out };
}

const GENERATE_KEYS = new Set([
  'maxNewTokens', 'minNewTokens', 'stopIds', 'temperature', 'topK', 'topP', 'seed', 'returnFirstLogits', 'signal', 'busyPoll',
]);

/** Validates generate() arguments against the loaded model (vocabulary, KV capacity). */
export function validateGenerateArgs(
  promptIds: unknown,
  opts: unknown,
  model: { vocabSize: number; maxSeqLen: number },
): { promptIds: number[]; opts: GenerateOptions } {
  const ids = checkIds(promptIds, 'promptIds', model.vocabSize, false);
  assertObject(opts, 'options');
  const o = (opts ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!GENERATE_KEYS.has(k)) throw new EngineRangeError(`options.${k} is not a generate option (known: ${[...GENERATE_KEYS].join(', ')})`);
  }
  const out: GenerateOptions = {};
  if (o.maxNewTokens !== undefined) out.maxNewTokens = checkInt(o.maxNewTokens, 'options.maxNewTokens', 1, 2 ** 31 - 1);
  if (o.minNewTokens !== undefined) out.minNewTokens = checkInt(o.minNewTokens, 'options.minNewTokens', 0, 2 ** 31 - 1);
  if (out.minNewTokens !== undefined && out.minNewTokens > (out.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS)) {
    throw new EngineRangeError(`options.minNewTokens (${out.minNewTokens}) exceeds options.maxNewTokens (${out.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS})`);
  }
  if (ids.length + (out.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS) - 1 > model.maxSeqLen) {
    // The KV cache holds the prompt and every generated token but the last; fail before any work.
    throw new EngineRangeError(
      `prompt (${ids.length} tokens) + maxNewTokens (${out.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS}) - 1 exceeds the model's maxSeqLen ${model.maxSeqLen}; load with a larger maxSeqLen or lower maxNewTokens`,
    );
  }
  if (o.stopIds !== undefined) out.stopIds = checkIds(o.stopIds, 'options.stopIds', model.vocabSize, true);
  if (o.temperature !== undefined) out.temperature = checkNumber(o.temperature, 'options.temperature', 0, false, 1e6);
  if (o.topK !== undefined) out.topK = checkInt(o.topK, 'options.topK', 0, 2 ** 31 - 1);
  if (o.topP !== undefined) out.topP = checkNumber(o.topP, 'options.topP', 0, true, 1);
  if (o.seed !== undefined) out.seed = checkInt(o.seed, 'options.seed', 0);
  if (o.returnFirstLogits !== undefined) {
    if (typeof o.returnFirstLogits !== 'boolean') {
      throw new EngineArgumentError(`options.returnFirstLogits must be a boolean, got ${describe(o.returnFirstLogits)}`);
    }
    out.returnFirstLogits = o.returnFirstLogits;
  }
  if (o.busyPoll !== undefined) {
    if (typeof o.busyPoll !== 'boolean') throw new EngineArgumentError(`options.busyPoll must be a boolean, got ${describe(o.busyPoll)}`);
    out.busyPoll = o.busyPoll;
  }
  if (o.signal !== undefined) {
    if (!(o.signal instanceof AbortSignal)) throw new EngineArgumentError(`options.signal must be an AbortSignal, got ${describe(o.signal)}`);
    out.signal = o.signal;
  }
  return { promptIds: ids, opts: out };
}
