// Turns (model, reasoning switch + params, prompt text) into what a backend sends: chat
// messages, chat-template kwargs, extra request fields and an optional assistant prefix.
// The native path renders `messages` with the model's own template and `templateKwargs`,
// then appends `assistantPrefix`; the HTTP path sends chatRequestBody(prepared).
// Every format has an explicit off form: off is never "send nothing".
import type { ChatMessage, ReasoningSettings } from '../backends/types.js';
import {
  normalizeReasoningParams,
  parseBooleanLike,
  parseReasoningState,
  ReasoningValueError,
  type ReasoningEffort,
  type ReasoningParams,
  type ReasoningState,
} from './reasoning-state.js';
import { resolveReasoningFormat, type ReasoningFormatName } from './registry.js';
import type { ThinkMarkers } from '../text/think-marker.js';

export interface PrepareInput {
  modelId: string;
  /**
   * The switch: a ReasoningSettings object ({enabled, params}) or any state value that
   * parseReasoningState accepts (true, "false", 0, "On (High)", "Off (N/A)", …).
   */
  reasoning: ReasoningSettings | unknown;
  /** Reasoning parameters (merged over ReasoningSettings.params). */
  params?: Record<string, unknown>;
  prompt: string;
  systemPrompt?: string;
  /** Per-run override of the registry's format. */
  format?: string;
}

export interface PreparedPrompt {
  messages: ChatMessage[];
  templateKwargs: Record<string, unknown>;
  /** Extra body fields for an OpenAI-compatible server (chat_template_kwargs, reasoning_effort). */
  requestFields: Record<string, unknown>;
  /** Text the assistant turn starts with (think-prefix formats). */
  assistantPrefix?: string;
  /** How the run is labelled in results, e.g. "on (effort high)", "low-effort (cannot disable)". */
  label: string;
  format: ReasoningFormatName;
  enabled: boolean;
  /** How this format's thinking reads when it arrives as text (for TTFO), when not `<think>`…`</think>`. */
  thinkMarkers?: ThinkMarkers;
}

/**
 * Granite 3.2/3.3 think in prose: "Here is my thought process:" … "Here is my response:" (its
 * template's instructions; vLLM's granite reasoning parser accepts "Here's" too).
 */
export const GRANITE_THINK_MARKERS: ThinkMarkers = {
  open: 'Here is my thought process:',
  close: ['Here is my response:', "Here's my response:"],
};

export const THINK_OPEN = '<think>\n';
export const EMPTY_THINK_BLOCK = '<think>\n\n</think>\n\n';

function isSettings(value: unknown): value is ReasoningSettings {
  return !!value && typeof value === 'object' && !Array.isArray(value) && 'enabled' in value;
}

function resolveState(input: PrepareInput): { state: ReasoningState; params: ReasoningParams } {
  let state: ReasoningState;
  let rawParams: Record<string, unknown> = {};
  if (isSettings(input.reasoning)) {
    state = { enabled: parseBooleanLike(input.reasoning.enabled, 'reasoning.enabled') };
    rawParams = { ...(input.reasoning.params ?? {}) };
  } else {
    state = parseReasoningState(input.reasoning);
  }
  const params = normalizeReasoningParams({ ...rawParams, ...(input.params ?? {}) });
  if (params.enable_thinking !== undefined && params.enable_thinking !== state.enabled) {
    throw new ReasoningValueError(
      `reasoning is ${state.enabled ? 'on' : 'off'} but enable_thinking is ${params.enable_thinking}; set one consistent switch`,
    );
  }
  if (state.effort && params.reasoning_effort && state.effort !== params.reasoning_effort) {
    throw new ReasoningValueError(`reasoning state asks for effort ${state.effort} but reasoning_effort is ${params.reasoning_effort}`);
  }
  const effort = state.effort ?? params.reasoning_effort;
  if (!state.enabled && effort && effort !== 'low') {
    throw new ReasoningValueError(`reasoning is off but reasoning_effort is ${effort}; off runs use the lowest effort`);
  }
  return { state: effort ? { ...state, effort } : state, params };
}

function withSystem(system: string | undefined, flag: string | undefined): ChatMessage[] {
  const parts = [system, flag].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return parts.length === 0 ? [] : [{ role: 'system', content: parts.join('\n') }];
}

/** Params the format does not consume travel as template kwargs. */
function extraKwargs(params: ReasoningParams, consumed: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) if (!consumed.includes(k)) out[k] = v;
  return out;
}

export function prepareReasoningPrompt(input: PrepareInput): PreparedPrompt {
  if (typeof input.prompt !== 'string') throw new TypeError('prepareReasoningPrompt: prompt must be a string');
  const { format } = resolveReasoningFormat(input.modelId, input.format);
  const { state, params } = resolveState(input);
  const on = state.enabled;
  const user: ChatMessage = { role: 'user', content: input.prompt };
  const system = input.systemPrompt;
  let messages: ChatMessage[] = [...withSystem(system, undefined), user];
  let templateKwargs: Record<string, unknown> = {};
  const requestFields: Record<string, unknown> = {};
  let assistantPrefix: string | undefined;
  let label = on ? 'on' : 'off';
  const effortFor = (): ReasoningEffort => (on ? state.effort ?? 'high' : 'low');

  switch (format) {
    case 'harmony':
    case 'reasoning-effort': {
      const effort = effortFor();
      templateKwargs = { ...extraKwargs(params, ['reasoning_effort']), reasoning_effort: effort };
      requestFields.reasoning_effort = effort;
      label = on ? `on (effort ${effort})` : 'low-effort (cannot disable)';
      break;
    }
    // SmolLM3 and Hunyuan templates also read enable_thinking; it is sent to agree with the flag.
    case 'think-flags':
      messages = [...withSystem(system, on ? '/think' : '/no_think'), user];
      templateKwargs = { ...extraKwargs(params, ['enable_thinking']), enable_thinking: on };
      break;
    case 'think-flags-user':
      messages = [...withSystem(system, undefined), { role: 'user', content: `${on ? '/think' : '/no_think'}${input.prompt}` }];
      templateKwargs = { ...extraKwargs(params, ['enable_thinking']), enable_thinking: on };
      break;
    case 'no-think-flag':
      messages = [...withSystem(system, on ? undefined : '/no_think'), user];
      templateKwargs = extraKwargs(params, []);
      if (on) label = 'on (model default)';
      break;
    case 'detailed-thinking':
      messages = [...withSystem(on ? 'detailed thinking on' : 'detailed thinking off', system), user];
      templateKwargs = extraKwargs(params, []);
      break;
    case 'think-prefix':
      assistantPrefix = on ? THINK_OPEN : EMPTY_THINK_BLOCK;
      templateKwargs = extraKwargs(params, []);
      if (!on) label = 'off (empty think block)';
      break;
    case 'enable-thinking': {
      templateKwargs = { ...extraKwargs(params, ['enable_thinking', 'thinking_budget']), enable_thinking: on };
      if (on && params.thinking_budget !== undefined) {
        // Passed on for templates that read it; Qwen3's own template and vLLM do not.
        templateKwargs.thinking_budget = params.thinking_budget;
        label = `on (thinking_budget ${params.thinking_budget} passed, not enforced by the Qwen3 template)`;
      }
      break;
    }
    case 'thinking-kwarg':
      templateKwargs = { ...extraKwargs(params, ['thinking']), thinking: on };
      break;
    case 'always-reasoning':
      templateKwargs = extraKwargs(params, []);
      if (!on) label = 'on (cannot disable)';
      break;
    case 'none':
      templateKwargs = extraKwargs(params, []);
      label = on ? 'on (no reasoning control for this model)' : state.notApplicable ? 'off (n/a)' : 'off';
      break;
  }
  if (Object.keys(templateKwargs).length > 0) requestFields.chat_template_kwargs = { ...templateKwargs };
  const prepared: PreparedPrompt = { messages, templateKwargs, requestFields, label, format, enabled: on };
  if (format === 'thinking-kwarg') prepared.thinkMarkers = GRANITE_THINK_MARKERS;
  if (assistantPrefix !== undefined) prepared.assistantPrefix = assistantPrefix;
  return prepared;
}

/**
 * The reasoning-related part of an OpenAI-compatible chat request body. A think prefix is
 * sent as a final assistant message the server continues (vLLM continue_final_message).
 */
export function chatRequestBody(prepared: PreparedPrompt): Record<string, unknown> {
  const body: Record<string, unknown> = { messages: prepared.messages.map((m) => ({ ...m })), ...prepared.requestFields };
  if (prepared.assistantPrefix !== undefined) {
    (body.messages as ChatMessage[]).push({ role: 'assistant', content: prepared.assistantPrefix });
    body.continue_final_message = true;
    body.add_generation_prompt = false;
  }
  return body;
}

/**
 * Appends an assistant prefix to a rendered prompt without repeating what the template
 * already wrote (templates such as DeepSeek-R1-0528 end their generation prompt with
 * "<think>\n" themselves). Only overlaps covering the prefix's first tag count, so a stray
 * "<" at the end of a prompt is never mistaken for the start of "<think>".
 */
export function appendAssistantPrefix(rendered: string, prefix: string | undefined): string {
  if (!prefix) return rendered;
  const tagEnd = prefix.indexOf('>');
  const minOverlap = tagEnd >= 0 ? tagEnd + 1 : prefix.length;
  for (let overlap = Math.min(prefix.length, rendered.length); overlap >= minOverlap; overlap--) {
    if (rendered.endsWith(prefix.slice(0, overlap))) return rendered + prefix.slice(overlap);
  }
  return rendered + prefix;
}
