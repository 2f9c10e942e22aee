import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../../src/models/default-model.js';
import { loadTextPipeline, type TextPipeline } from '../../src/text/pipeline.js';
import { MULTILINGUAL, QWEN3_DIR } from '../fixtures/text/paths.js';

let scratch: string;
let defaultDir: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'aeb-pipeline-'));
  defaultDir = await ensureDefaultModel(join(scratch, 'cache'));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** A model dir with the (small, fast to load) byte-level tokenizer.json and a config of our choosing. */
async function byteTokenizerDir(name: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const dir = join(scratch, name);
  await cp(join(defaultDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>', ...config }));
  for (const [file, value] of Object.entries(extra)) await writeFile(join(dir, file), JSON.stringify(value));
  return dir;
}

describe('TextPipeline on the built-in default model (byte tokens split every multi-byte char)', () => {
  let pipeline: TextPipeline;
  beforeAll(async () => {
    pipeline = await loadTextPipeline(defaultDir);
  });

  it.each(MULTILINGUAL)('streamed deltas concatenate to the decoded text for %j', (text) => {
    const ids = pipeline.tokenizer.encode(text, { addSpecialTokens: false });
    const decoder = pipeline.createDecoder();
    const deltas = ids.map((id) => decoder.push(id).delta);
    deltas.push(decoder.finish().delta);
    expect(deltas.join('')).toBe(text);
    expect(deltas.join('')).toBe(pipeline.decode(ids));
    expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
  });

  it('stops at the model eos id', () => {
    const decoder = pipeline.createDecoder();
    const steps = [...pipeline.tokenizer.encode('ok', { addSpecialTokens: false }), ...pipeline.eosIds].map((id) => decoder.push(id));
    expect(steps.at(-1)).toMatchObject({ stopped: true, stopReason: 'eos', stopId: 2 });
    expect(decoder.text).toBe('ok');
  });

  it('passes pre-tokenized prompts through and rejects ids outside the vocabulary', () => {
    expect(pipeline.encodePrompt({ index: 0, text: 'ignored', promptIds: [1, 5, 9] })).toEqual([1, 5, 9]);
    expect(() => pipeline.encodePrompt({ index: 7, text: '', promptIds: [1, 99999] })).toThrow(/prompt 7: token id 99999 is outside/);
  });

  it('a model without a reasoning mode is labelled so', () => {
    expect(pipeline.reasoningFormat.format).toBe('none');
    expect(pipeline.preparePrompt({ index: 0, text: 'x' }, { enabled: false, params: {} }).reasoningLabel).toBe('off');
  });
});

describe('TextPipeline prompt encoding', () => {
  it('uses the raw prompt (with bos as configured) when the model has no chat template', async () => {
    const dir = await byteTokenizerDir('raw', { add_bos_token: true, bos_token: '<s>' });
    const p = await loadTextPipeline(dir, { modelId: 'Qwen/Qwen3-8B' });
    expect(p.chatTemplate).toBeUndefined();
    const out = p.preparePrompt({ index: 0, text: 'Hello' }, { enabled: false, params: {} });
    expect(out.usedChatTemplate).toBe(false);
    expect(out.text).toBe('Hello');
    expect(out.ids).toEqual([1, ...[...Buffer.from('Hello')].map((b) => 3 + b)]);
    expect(out.reasoningLabel).toBe('no chat template (raw prompt)');
  });

  it('renders messages prepared upstream and still applies the template kwargs', async () => {
    const p = await loadTextPipeline(QWEN3_DIR, { modelId: 'Qwen/Qwen3-8B' });
    const out = p.preparePrompt(
      { index: 3, text: 'unused', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }] },
      { enabled: false, params: {} },
    );
    expect(out.text).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
    expect(p.eosIds).toEqual([p.tokenizer.tokenToId('<|im_end|>')]);
  });

  it('think-prefix models: on opens a think block once, off closes it, even when the template opened it', async () => {
    const template =
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}";
    const dir = await byteTokenizerDir('r1', { chat_template: template }, { 'generation_config.json': { eos_token_id: [2, 262] } });
    const p = await loadTextPipeline(dir, { modelId: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B' });
    const on = p.preparePrompt({ index: 0, text: 'Q' }, { enabled: true, params: {} });
    const off = p.preparePrompt({ index: 0, text: 'Q' }, { enabled: false, params: {} });
    expect(on.text).toBe('<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n');
    expect(off.text).toBe('<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
    expect(off.reasoningLabel).toBe('off (empty think block)');
    expect(p.eosIds).toEqual([2, 262]);
    expect(p.tokenizer.decode(off.ids, { skipSpecialTokens: false })).toBe(off.text);
  });

  it('falls back to config.json model_type for local directories, and honours a per-run override', async () => {
    const dir = await byteTokenizerDir('local-ckpt', {}, { 'config.json': { model_type: 'smollm3' } });
    expect((await loadTextPipeline(dir)).reasoningFormat).toEqual({ format: 'think-flags', pattern: 'model_type=smollm3' });
    expect((await loadTextPipeline(dir, { reasoningFormat: 'enable-thinking' })).reasoningFormat.format).toBe('enable-thinking');
    await expect(loadTextPipeline(dir, { reasoningFormat: 'nope' })).rejects.toThrow(/unknown reasoning format "nope"/);
  });

  it('fails clearly for a directory without tokenizer.json', async () => {
    await expect(loadTextPipeline(join(scratch, 'nothing-here'))).rejects.toThrow(/cannot read tokenizer.json at .*nothing-here/);
  });
});
