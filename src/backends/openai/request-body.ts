// Request body for /v1/chat/completions and /v1/completions (vLLM's extensions included).

import type { GenerationSettings, PromptInput } from '../types.js';

export type OpenAIApi = 'chat' | 'completions';

export interface BodyOptions {
  api: OpenAIApi;
  model: string;
  /** Ask for vLLM's per-chunk usage (dropped once a server rejects it). */
  continuousUsage: boolean;
  /** Merged last: overrides anything computed here. */
  extraBody?: Record<string, unknown>;
}

/** Reasoning parameters that servers read at the top level; everything else goes to the chat template. */
const TOP_LEVEL_REASONING_KEYS = new Set(['reasoning_effort']);

export function buildRequestBody(
  prompt: PromptInput,
  settings: GenerationSettings,
  opts: BodyOptions,
): Record<string, unknown> {
  const body: Record<string, unknown> = { model: opts.model };
  if (opts.api === 'chat') {
    body['messages'] =
      prompt.messages && prompt.messages.length > 0
        ? prompt.messages.map((m) => ({ role: m.role, content: m.content }))
        : [{ role: 'user', content: prompt.text }];
  } else {
    body['prompt'] = prompt.promptIds && prompt.promptIds.length > 0 ? prompt.promptIds : prompt.text;
  }
  body['stream'] = true;
  body['stream_options'] = opts.continuousUsage
    ? { include_usage: true, continuous_usage_stats: true }
    : { include_usage: true };
  body['max_tokens'] = settings.maxNewTokens;
  if (settings.minNewTokens > 0) body['min_tokens'] = settings.minNewTokens;
  body['temperature'] = settings.temperature;
  if (settings.topP !== undefined) body['top_p'] = settings.topP;
  if (settings.topK !== undefined && settings.topK > 0) body['top_k'] = settings.topK;
  if (settings.seed !== undefined) body['seed'] = settings.seed;
  if (settings.ignoreEos) body['ignore_eos'] = true;
  if (settings.stopStrings && settings.stopStrings.length > 0) body['stop'] = settings.stopStrings;
  if (settings.stopIds && settings.stopIds.length > 0) body['stop_token_ids'] = settings.stopIds;

  const params = settings.reasoning?.params ?? {};
  if (opts.api === 'completions' && Object.keys(params).length > 0) {
    // Nothing would carry them (no chat template): the run would be labelled with a state it never had.
    throw new TypeError(`reasoning parameters (${Object.keys(params).join(', ')}) cannot be sent with the completions API, which has no chat template; use the chat API`);
  }
  if (opts.api === 'chat' && Object.keys(params).length > 0) {
    const templateKwargs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(params)) {
      if (TOP_LEVEL_REASONING_KEYS.has(key)) body[key] = value;
      else templateKwargs[key] = value;
    }
    if (Object.keys(templateKwargs).length > 0) body['chat_template_kwargs'] = templateKwargs;
  }

  if (opts.extraBody) {
    for (const [key, value] of Object.entries(opts.extraBody)) {
      const current = body[key];
      // Objects merge one level deep so extraBody can add to chat_template_kwargs / stream_options.
      if (isPlainObject(current) && isPlainObject(value)) body[key] = { ...current, ...value };
      else body[key] = value;
    }
  }
  return body;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
