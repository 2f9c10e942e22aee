// Typed parsing of reasoning switches and parameters. The old system treated the string
// "false" as truthy; here every spelling users write (booleans, 0/1, on/off, yes/no, the
// models CSV's "On (High)" / "Off (N/A)") maps to a typed value, and anything else is an
// error that names the offending value.

export type ReasoningEffort = 'low' | 'medium' | 'high';
export const REASONING_EFFORTS: readonly ReasoningEffort[] = ['low', 'medium', 'high'];

export interface ReasoningState {
  enabled: boolean;
  /** From "On (High)" / "high" style values. */
  effort?: ReasoningEffort;
  /** "Off (N/A)": the model has no reasoning mode at all. */
  notApplicable?: boolean;
}

export class ReasoningValueError extends TypeError {
  readonly code = 'INVALID_REASONING_VALUE';
  constructor(message: string) {
    super(message);
    this.name = 'ReasoningValueError';
  }
}

const TRUE_WORDS = new Set(['true', '1', 'on', 'yes', 'y', 'enable', 'enabled']);
const FALSE_WORDS = new Set(['false', '0', 'off', 'no', 'n', 'disable', 'disabled']);

/** A boolean from true/false, 1/0 and the usual words; `what` names the setting in errors. */
export function parseBooleanLike(value: unknown, what: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (value === 1) return true;
    if (value === 0) return false;
  }
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  throw new ReasoningValueError(`${what}: ${JSON.stringify(value)} is not a boolean (use true/false, on/off, yes/no or 1/0)`);
}

export function parseEffort(value: unknown, what = 'reasoning_effort'): ReasoningEffort {
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if ((REASONING_EFFORTS as readonly string[]).includes(word)) return word as ReasoningEffort;
  }
  throw new ReasoningValueError(`${what}: ${JSON.stringify(value)} is not one of ${REASONING_EFFORTS.join(', ')}`);
}

/** A non-negative integer token budget ("512" and 512 both accepted). */
export function parseTokenBudget(value: unknown, what = 'thinking_budget'): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : value;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0) return n;
  throw new ReasoningValueError(`${what}: ${JSON.stringify(value)} is not a non-negative integer`);
}

const STATE_WITH_DETAIL = /^(on|off)\s*\(\s*([^)]*?)\s*\)$/;

/**
 * Parses a reasoning switch: booleans, 0/1, on/off-style words, an effort word ("high"),
 * or the models CSV's "On (High)", "On (Low)", "Off (N/A)".
 */
export function parseReasoningState(value: unknown): ReasoningState {
  if (value === undefined || value === null) throw new ReasoningValueError('reasoning state is missing');
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    const detail = STATE_WITH_DETAIL.exec(text);
    if (detail) {
      const enabled = detail[1] === 'on';
      const inner = detail[2]!.replace(/\s+/g, '');
      if (inner === 'n/a' || inner === 'na' || inner === 'none') {
        if (enabled) throw new ReasoningValueError(`reasoning state ${JSON.stringify(value)}: "On" cannot be N/A`);
        return { enabled: false, notApplicable: true };
      }
      if (!(REASONING_EFFORTS as readonly string[]).includes(inner)) {
        throw new ReasoningValueError(`reasoning state ${JSON.stringify(value)}: "${detail[2]}" is not an effort (${REASONING_EFFORTS.join(', ')}) or N/A`);
      }
      if (!enabled) throw new ReasoningValueError(`reasoning state ${JSON.stringify(value)}: "Off" cannot carry an effort`);
      return { enabled: true, effort: inner as ReasoningEffort };
    }
    if ((REASONING_EFFORTS as readonly string[]).includes(text)) return { enabled: true, effort: text as ReasoningEffort };
  }
  try {
    return { enabled: parseBooleanLike(value, 'reasoning state') };
  } catch {
    throw new ReasoningValueError(
      `reasoning state ${JSON.stringify(value)} is not understood (use on/off, true/false, 1/0, yes/no, low/medium/high, "On (High)", "Off (N/A)")`,
    );
  }
}

/** Reasoning parameters with known keys typed; unknown keys pass through unchanged. */
export interface ReasoningParams {
  enable_thinking?: boolean;
  thinking_budget?: number;
  reasoning_effort?: ReasoningEffort;
  [key: string]: unknown;
}

export function normalizeReasoningParams(params: Record<string, unknown> | undefined): ReasoningParams {
  const out: ReasoningParams = {};
  if (params === undefined || params === null) return out;
  if (typeof params !== 'object' || Array.isArray(params)) {
    throw new ReasoningValueError(`reasoning params must be an object, got ${JSON.stringify(params)}`);
  }
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    switch (key) {
      case 'enable_thinking':
        out.enable_thinking = parseBooleanLike(value, 'enable_thinking');
        break;
      case 'thinking_budget':
        out.thinking_budget = parseTokenBudget(value);
        break;
      case 'reasoning_effort':
        out.reasoning_effort = parseEffort(value);
        break;
      default:
        out[key] = value;
    }
  }
  return out;
}
