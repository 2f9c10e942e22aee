// Chat templates: found in tokenizer_config.json (`chat_template`, a string or a list of
// {name, template}) or in chat_template.jinja, rendered with @huggingface/jinja exactly as
// transformers' apply_chat_template does (messages, add_generation_prompt, bos/eos token
// strings, and free template kwargs such as enable_thinking or reasoning_effort).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import type { ChatMessage } from '../backends/types.js';
import { specialTokenContent, type TokenizerConfig } from './tokenizer.js';

export interface ChatTemplate {
  /** 'default' for a single template; otherwise the name from the named list. */
  name: string;
  source: string;
  /** Where it came from (file path + field), for error messages. */
  origin: string;
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  /** Extra template variables (enable_thinking, reasoning_effort, thinking_budget, …). */
  kwargs?: Record<string, unknown>;
  bosToken?: string;
  eosToken?: string;
}

export class ChatTemplateError extends Error {
  readonly code = 'CHAT_TEMPLATE_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChatTemplateError';
  }
}

/** Picks `name` (default: "default") from a tokenizer_config `chat_template` value. */
export function selectChatTemplate(value: unknown, origin: string, name?: string): ChatTemplate | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    if (name !== undefined && name !== 'default') {
      throw new ChatTemplateError(`${origin} has a single chat template; named template "${name}" does not exist`);
    }
    return { name: 'default', source: value, origin };
  }
  if (Array.isArray(value)) {
    const entries = value.map((entry, i) => {
      const e = entry as { name?: unknown; template?: unknown };
      if (!e || typeof e.name !== 'string' || typeof e.template !== 'string') {
        throw new ChatTemplateError(`${origin}[${i}] must be an object {name: string, template: string}`);
      }
      return { name: e.name, template: e.template };
    });
    const wanted = name ?? 'default';
    const hit = entries.find((e) => e.name === wanted);
    if (!hit) {
      if (name === undefined) return undefined;
      throw new ChatTemplateError(`${origin} has no chat template named "${wanted}" (available: ${entries.map((e) => e.name).join(', ')})`);
    }
    return { name: hit.name, source: hit.template, origin: `${origin}[name=${hit.name}]` };
  }
  throw new ChatTemplateError(`${origin} must be a string or a list of {name, template}, got ${typeof value}`);
}

/**
 * The model's chat template: tokenizer_config.json first, then chat_template.jinja (newer
 * transformers checkpoints keep it there). undefined when the model has none.
 */
export async function loadChatTemplate(dir: string, config: TokenizerConfig, name?: string): Promise<ChatTemplate | undefined> {
  const fromConfig = selectChatTemplate(config.chat_template, `${join(dir, 'tokenizer_config.json')}: chat_template`, name);
  if (fromConfig) return fromConfig;
  const jinjaPath = join(dir, 'chat_template.jinja');
  try {
    const source = await readFile(jinjaPath, 'utf8');
    return { name: 'default', source, origin: jinjaPath };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (name !== undefined) throw new ChatTemplateError(`${dir} has no chat template (looked for "${name}")`);
      return undefined;
    }
    throw new ChatTemplateError(`cannot read ${jinjaPath}: ${(err as Error).message}`, { cause: err });
  }
}

const compiled = new WeakMap<ChatTemplate, Template>();

function compile(template: ChatTemplate): Template {
  let t = compiled.get(template);
  if (!t) {
    try {
      t = new Template(template.source);
    } catch (err) {
      throw new ChatTemplateError(`cannot parse the chat template from ${template.origin}: ${(err as Error).message}`, { cause: err });
    }
    compiled.set(template, t);
  }
  return t;
}

export function renderChatTemplate(template: ChatTemplate, messages: readonly ChatMessage[], options: RenderOptions = {}): string {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new ChatTemplateError('renderChatTemplate: messages must be a non-empty array');
  }
  const kwargs = options.kwargs ?? {};
  for (const reserved of ['messages', 'add_generation_prompt']) {
    if (reserved in kwargs) throw new ChatTemplateError(`template kwarg "${reserved}" is reserved; use the dedicated option`);
  }
  const vars: Record<string, unknown> = {
    ...kwargs,
    messages: messages.map((m) => ({ ...m })),
    add_generation_prompt: options.addGenerationPrompt ?? true,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
  };
  try {
    return compile(template).render(vars);
  } catch (err) {
    if (err instanceof ChatTemplateError) throw err;
    throw new ChatTemplateError(`chat template from ${template.origin} failed to render: ${(err as Error).message}`, { cause: err });
  }
}

/** bos/eos strings a template refers to, from tokenizer_config.json. */
export function templateSpecialTokens(config: TokenizerConfig): { bosToken: string; eosToken: string } {
  return {
    bosToken: specialTokenContent(config.bos_token) ?? '',
    eosToken: specialTokenContent(config.eos_token) ?? '',
  };
}
