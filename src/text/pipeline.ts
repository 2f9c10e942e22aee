// The native engine's text side: prompt → token ids (chat template when the model has one,
// else the raw text) and generated ids → streamed text. One pipeline per model directory.
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ChatMessage, PromptInput, ReasoningSettings } from '../backends/types.js';
import { HARMONY_CHAT_TEMPLATE } from '../formatters/harmony-template.js';
import { appendAssistantPrefix, prepareReasoningPrompt } from '../formatters/prepare.js';
import { resolveReasoningFormatForCheckpoint, type ResolvedFormat } from '../formatters/registry.js';
import { loadChatTemplate, renderChatTemplate, templateSpecialTokens, type ChatTemplate } from './chat-template.js';
import { StreamDecoder, type StreamDecoderOptions } from './detokenizer.js';
import { loadTokenizer, TokenizerLoadError, type TextTokenizer } from './tokenizer.js';

export interface TextPipelineOptions {
  /** Hugging Face id used for the reasoning registry (default: config.json _name_or_path, else the directory name). */
  modelId?: string;
  /** Per-run reasoning format override (see REASONING_FORMATS). */
  reasoningFormat?: string;
  /** Named chat template (tokenizer_config.json list form). */
  chatTemplateName?: string;
  systemPrompt?: string;
}

export interface EncodedPrompt {
  ids: number[];
  /** The text that was tokenized (undefined for pre-tokenized prompts). */
  text?: string;
  /** Reasoning label for results ("on (effort high)", "off", …); undefined without reasoning settings. */
  reasoningLabel?: string;
  usedChatTemplate: boolean;
}

export interface DecoderOptions {
  stopStrings?: readonly string[];
  /** Replaces the model's eos ids when given. */
  stopIds?: readonly number[];
  skipSpecialTokens?: boolean;
}

export interface TextPipeline {
  readonly modelDir: string;
  readonly modelId: string;
  readonly tokenizer: TextTokenizer;
  /** The model's template, the built-in harmony one for gpt-oss bundles without one, or undefined. */
  readonly chatTemplate: ChatTemplate | undefined;
  readonly reasoningFormat: ResolvedFormat;
  /** generation_config.json ∪ config.json ∪ tokenizer eos. */
  readonly eosIds: readonly number[];
  preparePrompt(prompt: PromptInput, reasoning?: ReasoningSettings): EncodedPrompt;
  encodePrompt(prompt: PromptInput, reasoning?: ReasoningSettings): number[];
  createDecoder(options?: DecoderOptions): StreamDecoder;
  decode(ids: readonly number[]): string;
}

async function readOptionalJson(path: string): Promise<Record<string, unknown> | undefined> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch (err) {
    throw new TokenizerLoadError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function idList(value: unknown): number[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is number => Number.isInteger(v) && (v as number) >= 0);
}

function checkIds(ids: readonly number[], vocabSize: number, index: number): number[] {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`prompt ${index}: token id ${id} is outside the tokenizer vocabulary (0..${vocabSize - 1})`);
    }
  }
  return [...ids];
}

export async function loadTextPipeline(modelDir: string, options: TextPipelineOptions = {}): Promise<TextPipeline> {
  const dir = resolve(modelDir);
  const tokenizer = await loadTokenizer(dir);
  const config = (await readOptionalJson(join(dir, 'config.json'))) ?? {};
  const generationConfig = (await readOptionalJson(join(dir, 'generation_config.json'))) ?? {};
  const modelId =
    options.modelId ?? (typeof config._name_or_path === 'string' && config._name_or_path !== '' ? config._name_or_path : basename(dir));
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  const reasoningFormat = resolveReasoningFormatForCheckpoint(modelId, modelType, options.reasoningFormat);
  const own = await loadChatTemplate(dir, tokenizer.config, options.chatTemplateName);
  const chatTemplate: ChatTemplate | undefined =
    own ?? (reasoningFormat.format === 'harmony' ? { name: 'harmony', source: HARMONY_CHAT_TEMPLATE, origin: 'built-in harmony template' } : undefined);
  const eos = new Set<number>([...idList(generationConfig.eos_token_id), ...idList(config.eos_token_id)]);
  if (tokenizer.eosId !== undefined) eos.add(tokenizer.eosId);
  const eosIds = [...eos];
  const specials = templateSpecialTokens(tokenizer.config);

  function preparePrompt(prompt: PromptInput, reasoning?: ReasoningSettings): EncodedPrompt {
    if (!prompt || typeof prompt !== 'object') throw new TypeError('encodePrompt: prompt must be a PromptInput object');
    if (prompt.promptIds !== undefined) {
      return { ids: checkIds(prompt.promptIds, tokenizer.vocabSize, prompt.index), usedChatTemplate: false };
    }
    if (typeof prompt.text !== 'string') throw new TypeError(`prompt ${prompt.index}: text must be a string`);
    if (!chatTemplate) {
      const result: EncodedPrompt = { ids: tokenizer.encode(prompt.text), text: prompt.text, usedChatTemplate: false };
      if (reasoning) result.reasoningLabel = 'no chat template (raw prompt)';
      return result;
    }
    let messages: ChatMessage[] = prompt.messages ?? [{ role: 'user', content: prompt.text }];
    let kwargs: Record<string, unknown> = {};
    let prefix: string | undefined;
    let label: string | undefined;
    if (reasoning) {
      const prepared = prepareReasoningPrompt({
        modelId,
        reasoning,
        prompt: prompt.text,
        format: reasoningFormat.format,
        ...(options.systemPrompt !== undefined ? { systemPrompt: options.systemPrompt } : {}),
      });
      // Messages the runner prepared already carry the flags; kwargs and prefix still apply.
      messages = prompt.messages ?? prepared.messages;
      kwargs = prepared.templateKwargs;
      prefix = prepared.assistantPrefix;
      label = prepared.label;
    } else if (!prompt.messages && options.systemPrompt !== undefined) {
      messages = [{ role: 'system', content: options.systemPrompt }, ...messages];
    }
    const rendered = renderChatTemplate(chatTemplate, messages, { addGenerationPrompt: true, kwargs, ...specials });
    const text = appendAssistantPrefix(rendered, prefix);
    const result: EncodedPrompt = { ids: tokenizer.encode(text, { addSpecialTokens: false }), text, usedChatTemplate: true };
    if (label !== undefined) result.reasoningLabel = label;
    return result;
  }

  return {
    modelDir: dir,
    modelId,
    tokenizer,
    chatTemplate,
    reasoningFormat,
    eosIds,
    preparePrompt,
    encodePrompt: (prompt, reasoning) => preparePrompt(prompt, reasoning).ids,
    createDecoder(decoderOptions: DecoderOptions = {}) {
      const opts: StreamDecoderOptions = { eosIds: decoderOptions.stopIds ?? eosIds };
      if (decoderOptions.stopStrings) opts.stopStrings = decoderOptions.stopStrings;
      if (decoderOptions.skipSpecialTokens !== undefined) opts.skipSpecialTokens = decoderOptions.skipSpecialTokens;
      return new StreamDecoder(tokenizer, opts);
    },
    decode: (ids) => tokenizer.decode(ids),
  };
}
