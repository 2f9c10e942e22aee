import { open, readFile, rm, stat, writeFile, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkDefaultModel,
  DEFAULT_MODEL_NAME,
  DEFAULT_MODEL_SHAPE,
  defaultCacheRoot,
  ensureDefaultModel,
} from '../../src/models/default-model.js';
import { loadTextPipeline } from '../../src/text/pipeline.js';
import { loadTokenizer } from '../../src/text/tokenizer.js';
import { MULTILINGUAL } from '../fixtures/text/paths.js';

async function readSafetensorsHeader(path: string): Promise<{ header: Record<string, any>; dataBytes: number; fileBytes: number }> {
  const fh = await open(path, 'r');
  try {
    const len = Buffer.alloc(8);
    await fh.read(len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE());
    const json = Buffer.alloc(n);
    await fh.read(json, 0, n, 8);
    const fileBytes = (await fh.stat()).size;
    return { header: JSON.parse(json.toString('utf8')), dataBytes: fileBytes - 8 - n, fileBytes };
  } finally {
    await fh.close();
  }
}

describe('ensureDefaultModel', () => {
  let root: string;
  let dir: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'aeb-default-'));
    dir = await ensureDefaultModel(root);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('creates a complete, verified directory and leaves no temp dirs behind', async () => {
    expect(dir).toBe(join(root, DEFAULT_MODEL_NAME));
    expect((await readdir(dir)).sort()).toEqual(
      ['config.json', 'generation_config.json', 'manifest.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    expect(await readdir(root)).toEqual([DEFAULT_MODEL_NAME]);
    expect(await checkDefaultModel(dir)).toBeUndefined();
  });

  it('writes a LlamaForCausalLM config whose shapes match the safetensors header', async () => {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['LlamaForCausalLM']);
    expect(config).toMatchObject({
      model_type: 'llama',
      hidden_size: DEFAULT_MODEL_SHAPE.hiddenSize,
      num_hidden_layers: 4,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      intermediate_size: 688,
      max_position_embeddings: 2048,
      bos_token_id: 1,
      eos_token_id: 2,
    });
    const { header, dataBytes } = await readSafetensorsHeader(join(dir, 'model.safetensors'));
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).toHaveLength(2 + 9 * 4 + 1);
    expect(header['model.embed_tokens.weight']).toMatchObject({ dtype: 'F32', shape: [config.vocab_size, 256] });
    expect(header['lm_head.weight'].shape).toEqual([config.vocab_size, 256]);
    expect(header['model.layers.3.self_attn.k_proj.weight'].shape).toEqual([128, 256]);
    expect(header['model.layers.0.mlp.down_proj.weight'].shape).toEqual([256, 688]);
    // Offsets tile the data section exactly.
    const spans = names.map((n) => header[n].data_offsets as [number, number]).sort((a, b) => a[0] - b[0]);
    let end = 0;
    for (const [a, b] of spans) {
      expect(a).toBe(end);
      end = b;
    }
    expect(end).toBe(dataBytes);
  });

  it('has sane weights: norms at 1, projections ~ N(0, 0.02)', async () => {
    const { header } = await readSafetensorsHeader(join(dir, 'model.safetensors'));
    const buf = await readFile(join(dir, 'model.safetensors'));
    const base = 8 + Number(buf.readBigUInt64LE(0));
    const tensor = (name: string): Float32Array => {
      const [a, b] = header[name].data_offsets as [number, number];
      return new Float32Array(buf.buffer.slice(buf.byteOffset + base + a, buf.byteOffset + base + b));
    };
    expect([...tensor('model.norm.weight')].every((v) => v === 1)).toBe(true);
    const q = tensor('model.layers.1.self_attn.q_proj.weight');
    const mean = q.reduce((s, v) => s + v, 0) / q.length;
    const std = Math.sqrt(q.reduce((s, v) => s + (v - mean) ** 2, 0) / q.length);
    expect(Math.abs(mean)).toBeLessThan(0.001);
    expect(std).toBeGreaterThan(0.019);
    expect(std).toBeLessThan(0.021);
    // Different tensors get different draws.
    expect(tensor('model.layers.0.self_attn.q_proj.weight')[0]).not.toBe(q[0]);
    // Bias channel: embedding dim 0 is 1; lm_head column 0 pushes specials (eos) far down.
    const embed = tensor('model.embed_tokens.weight');
    const head = tensor('lm_head.weight');
    expect(embed[2 * 256]).toBe(1);
    expect(head[2 * 256]).toBe(-4);
    expect(head[(3 + 0x61) * 256]).toBeCloseTo(0.15);
    expect(head[(3 + 0xf6) * 256]).toBeCloseTo(-0.6);
  });

  it('ships a byte-level tokenizer that loads and round-trips any text, with bos and a chat template', async () => {
    const tok = await loadTokenizer(dir);
    for (const text of MULTILINGUAL) {
      const ids = tok.encode(text);
      expect(ids[0]).toBe(1);
      expect(ids.length).toBe(1 + Buffer.byteLength(text));
      expect(tok.decode(ids)).toBe(text);
    }
    const pipeline = await loadTextPipeline(dir);
    expect(pipeline.eosIds).toEqual([2]);
    const prompt = pipeline.preparePrompt({ index: 0, text: 'Hi' });
    expect(prompt.text).toBe('<s><|user|>\nHi</s>\n<|assistant|>\n');
    expect(prompt.ids).toEqual([1, 260, 3 + 0x0a, 3 + 0x48, 3 + 0x69, 2, 3 + 0x0a, 261, 3 + 0x0a]);
  });

  it('returns the cached directory on the second call without regenerating', async () => {
    const before = await stat(join(dir, 'model.safetensors'));
    const t0 = Date.now();
    expect(await ensureDefaultModel(root)).toBe(dir);
    const after = await stat(join(dir, 'model.safetensors'));
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.ino).toBe(before.ino);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('detects a corrupted or partial cache and regenerates the same bytes', async () => {
    const weights = join(dir, 'model.safetensors');
    const good = await readFile(weights);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 0xff;
    await writeFile(weights, flipped);
    expect(await checkDefaultModel(dir)).toMatch(/model.safetensors does not match its sha256/);
    await ensureDefaultModel(root);
    expect((await readFile(weights)).equals(good)).toBe(true);

    await writeFile(weights, good.subarray(0, 1000));
    expect(await checkDefaultModel(dir)).toMatch(/model.safetensors has 1000 bytes/);
    await rm(join(dir, 'manifest.json'));
    expect(await checkDefaultModel(dir)).toMatch(/manifest.json unreadable/);
    expect(await ensureDefaultModel(root)).toBe(dir);
    expect((await readFile(weights)).equals(good)).toBe(true);
    expect(await readdir(root)).toEqual([DEFAULT_MODEL_NAME]);
  });

  it('concurrent first uses agree on one complete directory', async () => {
    const fresh = join(root, 'concurrent');
    const [a, b] = await Promise.all([ensureDefaultModel(fresh), ensureDefaultModel(fresh)]);
    expect(a).toBe(b);
    expect(await checkDefaultModel(a)).toBeUndefined();
    expect(await readdir(fresh)).toEqual([DEFAULT_MODEL_NAME]);
    expect((await readFile(join(a, 'model.safetensors'))).equals(await readFile(join(dir, 'model.safetensors')))).toBe(true);
  });

  it('defaults to $XDG_CACHE_HOME/ai-energy-benchmarks', () => {
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = '/some/cache';
    try {
      expect(defaultCacheRoot()).toBe('/some/cache/ai-energy-benchmarks');
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });
});
