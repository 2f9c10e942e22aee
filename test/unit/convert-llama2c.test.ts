import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { convertLlama2c, permuteRotaryRows } from '../../src/convert/llama2c.js';
import { stories260kDir } from '../helpers/fixtures.js';

interface Dims { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seq: number }

/** Writes a llama2.c legacy checkpoint whose every float encodes (section, index) so placement is checkable. */
async function writeLlama2c(path: string, d: Dims, opts: { shared: boolean; dropBytes?: number }): Promise<Map<string, Float32Array>> {
  const headSize = d.dim / d.heads;
  const kvDim = headSize * d.kvHeads;
  const sizes: [string, number][] = [
    ['emb', d.vocab * d.dim], ['rms_att', d.layers * d.dim], ['wq', d.layers * d.dim * d.dim],
    ['wk', d.layers * kvDim * d.dim], ['wv', d.layers * kvDim * d.dim], ['wo', d.layers * d.dim * d.dim],
    ['rms_ffn', d.layers * d.dim], ['w1', d.layers * d.hidden * d.dim], ['w2', d.layers * d.dim * d.hidden],
    ['w3', d.layers * d.hidden * d.dim], ['rms_final', d.dim], ['freq', d.seq * headSize],
  ];
  if (!opts.shared) sizes.push(['wcls', d.vocab * d.dim]);
  const sections = new Map<string, Float32Array>();
  sizes.forEach(([name, n], s) => sections.set(name, Float32Array.from({ length: n }, (_, i) => s * 100000 + i)));
  const header = Buffer.alloc(28);
  [d.dim, d.hidden, d.layers, d.heads, d.kvHeads, opts.shared ? d.vocab : -d.vocab, d.seq].forEach((v, i) => header.writeInt32LE(v, i * 4));
  const body = Buffer.concat([...sections.values()].map((a) => Buffer.from(a.buffer)));
  const all = Buffer.concat([header, body]);
  await writeFile(path, all.subarray(0, all.length - (opts.dropBytes ?? 0)));
  return sections;
}

function readSafetensors(buf: Buffer): Map<string, { shape: number[]; data: Float32Array }> {
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + len;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    expect(t.dtype).toBe('F32');
    const bytes = buf.subarray(base + t.data_offsets[0], base + t.data_offsets[1]);
    out.set(name, { shape: t.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) });
  }
  return out;
}

const dims: Dims = { dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, vocab: 16, seq: 8 };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-convert-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('permuteRotaryRows', () => {
  it('moves pair-rotation rows (2i, 2i+1) of each head to half-rotation rows (i, i + d/2)', () => {
    // 2 heads of size 4, 1 column: row r holds r.
    const out = permuteRotaryRows(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 2, 4, 1);
    expect(Array.from(out)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });
});

describe('convertLlama2c', () => {
  it('writes an HF Llama directory with permuted q/k rows and a tied head', async () => {
    const src = join(dir, 'tied.bin');
    const sections = await writeLlama2c(src, dims, { shared: true });
    const out = join(dir, 'tied');
    const result = await convertLlama2c(src, out);
    expect(result.header).toMatchObject({ dim: 8, nHeads: 2, nKvHeads: 1, vocabSize: 16, sharedClassifier: true });

    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'], hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2,
      num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 16, max_position_embeddings: 8,
      rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
    });
    expect(JSON.parse(await readFile(join(out, 'generation_config.json'), 'utf8'))).toMatchObject({ eos_token_id: 2 });

    const tensors = readSafetensors(await readFile(join(out, 'model.safetensors')));
    expect(tensors.has('lm_head.weight')).toBe(false);
    expect(tensors.get('model.embed_tokens.weight')!.data).toEqual(sections.get('emb'));
    const headSize = 4;
    // Layer 1 q_proj: new row h*4 + p*2 + i must be old row h*4 + 2i + p.
    const wq = sections.get('wq')!.subarray(64, 128);
    const q = tensors.get('model.layers.1.self_attn.q_proj.weight')!;
    expect(q.shape).toEqual([8, 8]);
    for (let h = 0; h < 2; h++) for (let i = 0; i < 2; i++) for (let p = 0; p < 2; p++) {
      const newRow = h * headSize + p * 2 + i, oldRow = h * headSize + 2 * i + p;
      expect(Array.from(q.data.subarray(newRow * 8, newRow * 8 + 8))).toEqual(Array.from(wq.subarray(oldRow * 8, oldRow * 8 + 8)));
    }
    const k = tensors.get('model.layers.0.self_attn.k_proj.weight')!;
    expect(k.shape).toEqual([4, 8]);
    const wk = sections.get('wk')!.subarray(0, 32);
    expect(Array.from(k.data.subarray(8, 16))).toEqual(Array.from(wk.subarray(16, 24))); // row 1 <- row 2
    // Unpermuted tensors keep their order; w1/w3/w2 map to gate/up/down.
    expect(tensors.get('model.layers.1.self_attn.v_proj.weight')!.data).toEqual(sections.get('wv')!.subarray(32, 64));
    expect(tensors.get('model.layers.0.mlp.gate_proj.weight')!.data).toEqual(sections.get('w1')!.subarray(0, 96));
    expect(tensors.get('model.layers.0.mlp.up_proj.weight')!.data).toEqual(sections.get('w3')!.subarray(0, 96));
    expect(tensors.get('model.layers.0.mlp.down_proj.weight')!.shape).toEqual([8, 12]);
    expect(tensors.get('model.norm.weight')!.data).toEqual(sections.get('rms_final'));
    expect(tensors.size).toBe(1 + 2 * 9 + 1);
  });

  it('keeps a separate classifier when vocab_size is negative', async () => {
    const src = join(dir, 'untied.bin');
    const sections = await writeLlama2c(src, dims, { shared: false });
    const out = join(dir, 'untied');
    await convertLlama2c(src, out);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.tie_word_embeddings).toBe(false);
    expect(config.vocab_size).toBe(16);
    const tensors = readSafetensors(await readFile(join(out, 'model.safetensors')));
    expect(tensors.get('lm_head.weight')!.data).toEqual(sections.get('wcls'));
  });

  it('rejects a file whose size does not match its header', async () => {
    const src = join(dir, 'short.bin');
    await writeLlama2c(src, dims, { shared: true, dropBytes: 4 });
    await expect(convertLlama2c(src, join(dir, 'short'))).rejects.toMatchObject({ code: 'LLAMA2C_INVALID', message: expect.stringMatching(/must be exactly \d+ bytes/) });
  });

  it('rejects an inconsistent header and a missing file', async () => {
    const src = join(dir, 'bad.bin');
    await writeLlama2c(src, { ...dims, heads: 3 }, { shared: true });
    await expect(convertLlama2c(src, join(dir, 'bad'))).rejects.toMatchObject({ code: 'LLAMA2C_INVALID', message: expect.stringContaining('dim must be divisible by n_heads') });
    const tiny = join(dir, 'tiny.bin');
    await writeFile(tiny, Buffer.alloc(10));
    await expect(convertLlama2c(tiny, join(dir, 'tiny'))).rejects.toMatchObject({ code: 'LLAMA2C_INVALID', message: expect.stringContaining('shorter than the 28-byte') });
    await expect(convertLlama2c(join(dir, 'nope.bin'), join(dir, 'nope'))).rejects.toMatchObject({ code: 'LLAMA2C_INVALID', message: expect.stringContaining('ENOENT') });
  });

  it('names a versioned llama2.c export ("ak42" magic) as unsupported instead of reading it as dimensions', async () => {
    const src = join(dir, 'v1.bin');
    const header = Buffer.alloc(256);
    header.writeUInt32LE(0x616b3432, 0); // export.py --version 1: struct.pack('I', 0x616b3432), version, then the config
    header.writeInt32LE(1, 4);
    header.writeInt32LE(64, 8);
    await writeFile(src, header);
    await expect(convertLlama2c(src, join(dir, 'v1'))).rejects.toMatchObject({
      code: 'LLAMA2C_INVALID',
      message: expect.stringMatching(/a llama2\.c export of version 1 \(the "ak42" header\): only the legacy format .* export\.py --version 0/),
    });
  });

  it('converts the real stories260K checkpoint', async () => {
    const out = join(dir, 'stories');
    const fixture = stories260kDir();
    const result = await convertLlama2c(join(fixture, 'stories260K.bin'), out);
    expect(result.parameters).toBe(512 * 64 + 5 * (64 * 2 + 64 * 64 * 2 + 32 * 64 * 2 + 172 * 64 * 3) + 64);
    expect((await stat(join(out, 'model.safetensors'))).size).toBeGreaterThan(result.parameters * 4);
  });
});
