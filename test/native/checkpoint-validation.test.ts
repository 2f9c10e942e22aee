// Bad checkpoints must be rejected by loadModel with a stable `code` and a message naming
// the problem; random header mutations must never crash the process.
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../../src/engine/index.js';
import { nativeRuntimeInfo } from '../../src/native/index.js';
import { TINY_LLAMA, configJson, joinSafetensors, splitSafetensors, tinyTensors, writeTinyCheckpoint, type TinyConfig } from './checkpoint-helpers.js';
import { SKIP_NATIVE } from './helpers/fixtures.js';


let root: string;
let valid: string; // a loadable tiny Llama
let original: Buffer;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'aeb-ckpt-'));
  valid = join(root, 'valid');
  await mkdir(valid);
  await writeTinyCheckpoint(valid);
  original = await readFile(join(valid, 'model.safetensors'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh checkpoint dir with the valid config and the given model.safetensors bytes. */
async function withWeights(bytes: Buffer, config: unknown = configJson(TINY_LLAMA)): Promise<string> {
  const dir = join(root, `case-${counter++}`);
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  await writeFile(join(dir, 'model.safetensors'), bytes);
  return dir;
}

/** Rewrites the header through `edit`, keeping the data section. */
async function withHeader(edit: (h: Record<string, any>) => void): Promise<string> {
  const { header, data } = splitSafetensors(original);
  edit(header);
  return withWeights(joinSafetensors(JSON.stringify(header), data));
}

async function expectCode(dir: string, code: string, message?: RegExp, opts = {}): Promise<void> {
  const err = await loadModel(dir, { threads: 1, ...opts }).then(
    (m) => { m.dispose(); return undefined; },
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(Error);
  expect((err as { code?: string }).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

describe.skipIf(SKIP_NATIVE)('checkpoint validation', () => {
  it('loads the valid tiny checkpoint', async () => {
    const model = await loadModel(valid, { threads: 1 });
    expect(model.info).toMatchObject({ architecture: 'LlamaForCausalLM', vocabSize: 32, hiddenSize: 16, numKvHeads: 1, headDim: 8 });
    const r = await model.generate([1, 5, 7], { maxNewTokens: 4, stopIds: [] }).result;
    expect(r.ids).toHaveLength(4);
    model.dispose();
  });

  describe('safetensors container', () => {
    it('truncated file', async () => {
      await expectCode(await withWeights(original.subarray(0, original.length - 100)), 'SAFETENSORS_TRUNCATED', /truncated/);
      await expectCode(await withWeights(original.subarray(0, 5)), 'SAFETENSORS_TRUNCATED', /shorter than the 8-byte/);
    });

    it('header length past the end of the file', async () => {
      const bytes = Buffer.from(original);
      bytes.writeBigUInt64LE(BigInt(original.length), 0);
      await expectCode(await withWeights(bytes), 'SAFETENSORS_TRUNCATED', /runs past the end/);
      bytes.writeBigUInt64LE(1n << 62n, 0);
      await expectCode(await withWeights(bytes), 'SAFETENSORS_HEADER_INVALID', /100 MB/);
    });

    it('invalid JSON', async () => {
      const { data } = splitSafetensors(original);
      for (const text of ['{"a": 1,}', '{"a" 1}', '[1, 2]', '{"x": NaN}', '{"a":1}{}', '{"a":1, "a":2}']) {
        await expectCode(await withWeights(joinSafetensors(text, data)), 'SAFETENSORS_HEADER_INVALID', /model\.safetensors/);
      }
    });

    it('unknown dtype', async () => {
      await expectCode(await withHeader((h) => { h['model.norm.weight'].dtype = 'F33'; }), 'SAFETENSORS_DTYPE_UNKNOWN', /model\.norm\.weight.*F33/);
    });

    it('shape × dtype size differs from the byte range', async () => {
      await expectCode(await withHeader((h) => { h['model.norm.weight'].shape = [17]; }), 'SAFETENSORS_SIZE_MISMATCH', /model\.norm\.weight/);
      await expectCode(await withHeader((h) => { h['model.norm.weight'].dtype = 'BF16'; }), 'SAFETENSORS_SIZE_MISMATCH', /model\.norm\.weight/);
    });

    it('offsets out of range, reversed, malformed and overlapping', async () => {
      await expectCode(await withHeader((h) => {
        const [b, e] = h['model.embed_tokens.weight'].data_offsets;
        h['model.embed_tokens.weight'].data_offsets = [b + 1_000_000, e + 1_000_000];
      }), 'SAFETENSORS_OFFSET_OUT_OF_RANGE', /model\.embed_tokens\.weight/);
      await expectCode(await withHeader((h) => {
        const [b, e] = h['model.norm.weight'].data_offsets;
        h['model.norm.weight'].data_offsets = [e, b];
      }), 'SAFETENSORS_OFFSETS_INVALID', /model\.norm\.weight/);
      await expectCode(await withHeader((h) => { h['model.norm.weight'].data_offsets = [-64, 0]; }), 'SAFETENSORS_OFFSETS_INVALID');
      await expectCode(await withHeader((h) => {
        // Point the final norm at the embedding's first bytes (same size, overlapping range).
        const [b] = h['model.embed_tokens.weight'].data_offsets;
        h['model.norm.weight'].data_offsets = [b, b + 64];
      }), 'SAFETENSORS_OFFSETS_OVERLAP', /overlap/);
    });

    it('missing, wrongly shaped and non-float tensors', async () => {
      const tensors = tinyTensors(TINY_LLAMA);
      const dirMissing = join(root, 'missing');
      await mkdir(dirMissing);
      await writeTinyCheckpoint(dirMissing, TINY_LLAMA, tensors.filter((t) => t.name !== 'model.layers.0.mlp.up_proj.weight'));
      await expectCode(dirMissing, 'TENSOR_MISSING', /model\.layers\.0\.mlp\.up_proj\.weight/);

      const dirShape = join(root, 'shape');
      await mkdir(dirShape);
      await writeTinyCheckpoint(dirShape, TINY_LLAMA, tensors.map((t) => t.name === 'lm_head.weight' ? { ...t, shape: [16, 32] } : t));
      await expectCode(dirShape, 'TENSOR_SHAPE_MISMATCH', /lm_head\.weight.*\[16, 32\].*\[32, 16\]/);

      await expectCode(await withHeader((h) => { h['model.norm.weight'].dtype = 'I32'; }), 'DTYPE_UNSUPPORTED', /model\.norm\.weight.*I32/);
    });
  });

  describe('config and files', () => {
    it('bad config.json', async () => {
      await expectCode(await withWeights(original, '{"architectures": ['), 'CONFIG_INVALID', /config\.json/);
      const { hidden_size: _drop, ...noHidden } = configJson(TINY_LLAMA);
      await expectCode(await withWeights(original, noHidden), 'CONFIG_INVALID', /hidden_size.*missing/);
      await expectCode(await withWeights(original, { ...configJson(TINY_LLAMA), num_key_value_heads: 3 }), 'CONFIG_INVALID', /num_key_value_heads/);
      await expectCode(await withWeights(original, { ...configJson(TINY_LLAMA), vocab_size: -4 }), 'CONFIG_INVALID', /vocab_size/);
      // Refused before any per-layer work (2^31 layers once ran the machine out of memory).
      await expectCode(await withWeights(original, { ...configJson(TINY_LLAMA), num_hidden_layers: 2 ** 31 }), 'CONFIG_INVALID',
        /"num_hidden_layers" is 2147483648, implausibly large \(at most 4096\)/);
      await expectCode(await withWeights(original, { ...configJson(TINY_LLAMA), rope_scaling: { rope_type: 'yarn', factor: 4 } }), 'CONFIG_INVALID', /yarn/);
      await expectCode(await withWeights(original, { ...configJson(TINY_LLAMA), hidden_act: 'gelu' }), 'CONFIG_INVALID', /hidden_act/);
    });

    it('unsupported architecture lists the supported ones', async () => {
      await expectCode(await withWeights(original, { ...configJson(TINY_LLAMA), architectures: ['FalconForCausalLM'] }),
        'UNSUPPORTED_ARCHITECTURE', /FalconForCausalLM.*LlamaForCausalLM.*Qwen3ForCausalLM, GPT2LMHeadModel, and any model exported as a TorchScript \.pt file/);
    });

    it('missing directory, config or weights', async () => {
      await expectCode(join(root, 'does-not-exist'), 'FILE_NOT_FOUND', /config\.json/);
      const noWeights = join(root, 'no-weights');
      await mkdir(noWeights);
      await copyFile(join(valid, 'config.json'), join(noWeights, 'config.json'));
      await expectCode(noWeights, 'FILE_NOT_FOUND', /model\.safetensors/);
    });

    it('device and dtype', async () => {
      await expectCode(valid, 'DTYPE_UNSUPPORTED', /f16.*cpu/, { dtype: 'f16' });
      if (!nativeRuntimeInfo().cudaAvailable) await expectCode(valid, 'DEVICE_UNAVAILABLE', /CUDA/, { device: 'cuda' });
      await expectCode(valid, 'INVALID_ARGUMENT', /max_seq_len/, { maxSeqLen: 65 });
    });

    it('a KV cache that cannot be allocated is OUT_OF_MEMORY naming its size and the way out', async () => {
      // 2^31 - 1 positions x 2 kv heads x head_dim 16384 in f32: 256 TiB per cache, beyond any
      // address space, so the allocation fails before a byte is touched on every machine.
      const dir = join(root, `huge-cache-${counter++}`);
      await mkdir(dir);
      const cfg: TinyConfig = { ...TINY_LLAMA, heads: 2, kvHeads: 2, headDim: 16384, maxPos: 2 ** 31 - 1 };
      await writeTinyCheckpoint(dir, cfg, tinyTensors(cfg));
      await expectCode(dir, 'OUT_OF_MEMORY', /^the KV cache \[1, 2, 2147483647, 16384\] \(262144\.00 GiB of f32 on cpu, twice: keys and values\) cannot be allocated: .*; lower maxSeqLen$/,
        { maxSeqLen: 2 ** 31 - 1 });
    });

    it('sliding windows: Mistral and Qwen2 (windows on some layers) run past the window; bad window settings name the key', async () => {
      const write = async (label: string, cfg: TinyConfig): Promise<string> => {
        const dir = join(root, `${label}-${counter++}`);
        await mkdir(dir);
        await writeTinyCheckpoint(dir, cfg, tinyTensors(cfg));
        return dir;
      };
      const mistral = await write('mistral-window', { ...TINY_LLAMA, architecture: 'MistralForCausalLM', extraConfig: { sliding_window: 8 } });
      const qwen = await write('qwen2-window', { ...TINY_LLAMA, architecture: 'Qwen2ForCausalLM', extraConfig: { use_sliding_window: true, sliding_window: 8, max_window_layers: 0 } });
      for (const dir of [mistral, qwen]) {
        const m = await loadModel(dir, { threads: 1, maxSeqLen: 64 });
        expect(m.info.maxSeqLen).toBe(64);
        m.dispose();
      }
      const qwenBad = (extra: Record<string, unknown>) =>
        write('qwen2-window-bad', { ...TINY_LLAMA, layers: 2, architecture: 'Qwen2ForCausalLM', extraConfig: { use_sliding_window: true, sliding_window: 8, ...extra } });
      await expectCode(await qwenBad({ max_window_layers: -1 }), 'CONFIG_INVALID', /"max_window_layers" must be a non-negative integer/);
      await expectCode(await qwenBad({ layer_types: ['full_attention'] }), 'CONFIG_INVALID', /"layer_types" must be a list with one entry per layer \(2\)/);
      await expectCode(await qwenBad({ layer_types: ['full_attention', 'chunked_attention'] }), 'CONFIG_INVALID', /"layer_types" entry 1 must be "full_attention" or "sliding_attention"/);
      await expectCode(await qwenBad({ sliding_window: 0 }), 'CONFIG_INVALID', /"sliding_window" must be a positive integer/);
      // layer_types is checked even where no window applies, as transformers checks it.
      await expectCode(await qwenBad({ use_sliding_window: false, layer_types: ['full_attention', 'bogus'] }), 'CONFIG_INVALID', /"layer_types" entry 1/);
    });

    it("Qwen2's window defaults like transformers': absent sliding_window is 4096, an explicit null is none", async () => {
      // Same weights, configs that differ only in the window; a 4,200-token prompt so 4096 matters.
      const prompt = Array.from({ length: 4200 }, (_, i) => (i * 7 + 3) % 32);
      const firstLogits = async (extra: Record<string, unknown>): Promise<Float32Array> => {
        const cfg: TinyConfig = { ...TINY_LLAMA, architecture: 'Qwen2ForCausalLM', maxPos: 4300, extraConfig: { max_window_layers: 0, ...extra } };
        const dir = join(root, `qwen2-default-window-${counter++}`);
        await mkdir(dir);
        await writeTinyCheckpoint(dir, cfg, tinyTensors(cfg));
        const m = await loadModel(dir, { threads: 1, maxSeqLen: 4300 });
        try {
          return (await m.generate(prompt, { maxNewTokens: 1, stopIds: [], returnFirstLogits: true }).result).firstLogits!;
        } finally {
          m.dispose();
        }
      };
      const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      const absent = await firstLogits({ use_sliding_window: true });
      const explicit4096 = await firstLogits({ use_sliding_window: true, sliding_window: 4096 });
      const explicitNull = await firstLogits({ use_sliding_window: true, sliding_window: null });
      const off = await firstLogits({ use_sliding_window: false, sliding_window: 4096 });
      expect(maxDiff(absent, explicit4096)).toBe(0);
      expect(maxDiff(explicitNull, off)).toBe(0);
      expect(maxDiff(absent, off)).toBeGreaterThan(1e-6);
    });
  });

  describe('sharded checkpoints', () => {
    async function sharded(mutate?: (index: any) => void): Promise<string> {
      const dir = join(root, `sharded-${counter++}`);
      await mkdir(dir);
      const tensors = tinyTensors(TINY_LLAMA);
      const half = Math.floor(tensors.length / 2);
      const { writeSafetensors } = await import('../../src/checkpoint/safetensors-writer.js');
      await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), tensors.slice(0, half));
      await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), tensors.slice(half));
      const index: any = { metadata: {}, weight_map: {} };
      tensors.forEach((t, i) => { index.weight_map[t.name] = `model-0000${i < half ? 1 : 2}-of-00002.safetensors`; });
      mutate?.(index);
      await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
      await writeFile(join(dir, 'config.json'), JSON.stringify(configJson(TINY_LLAMA)));
      return dir;
    }

    it('loads shards listed by model.safetensors.index.json with the same outputs', async () => {
      const a = await loadModel(valid, { threads: 1 });
      const b = await loadModel(await sharded(), { threads: 1 });
      const ra = await a.generate([3, 4], { maxNewTokens: 6, stopIds: [], returnFirstLogits: true }).result;
      const rb = await b.generate([3, 4], { maxNewTokens: 6, stopIds: [], returnFirstLogits: true }).result;
      expect(rb.ids).toEqual(ra.ids);
      expect(Array.from(rb.firstLogits!)).toEqual(Array.from(ra.firstLogits!));
      a.dispose();
      b.dispose();
    });

    it('rejects a bad index', async () => {
      await expectCode(await sharded((i) => { i.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors'; }), 'TENSOR_MISSING', /model\.norm\.weight/);
      await expectCode(await sharded((i) => { i.weight_map['model.norm.weight'] = '../escape.safetensors'; }), 'SAFETENSORS_INDEX_INVALID', /escape/);
      await expectCode(await sharded((i) => { i.weight_map['model.norm.weight'] = 'model-00003-of-00002.safetensors'; }), 'FILE_NOT_FOUND', /00003/);
    });
  });

  it('survives 1,000 random header mutations (every load resolves or rejects with a code)', async () => {
    const dir = join(root, 'fuzz');
    await mkdir(dir);
    await copyFile(join(valid, 'config.json'), join(dir, 'config.json'));
    const file = join(dir, 'model.safetensors');
    const headerLen = Number(original.readBigUInt64LE(0));
    const pieces = ['"', '{', '}', '[', ']', ',', ':', '0', '-1', '1e999', '\\u0000', '99999999999999999999', 'null', '"F64"', '"BF16"', ' ', '\u00e9'];
    let seed = 12345;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    const codes = new Map<string, number>();
    let loaded = 0;
    for (let it = 0; it < 1000; it++) {
      let bytes = Buffer.from(original);
      const mutations = 1 + rand(3);
      for (let m = 0; m < mutations; m++) {
        const pos = 8 + rand(headerLen);
        switch (rand(5)) {
          case 0: bytes[pos] = rand(256); break;
          case 1: bytes[pos] = 0x30 + rand(10); break;
          case 2: bytes = Buffer.concat([bytes.subarray(0, pos), Buffer.from(pieces[rand(pieces.length)]!), bytes.subarray(pos + 1 + rand(3))]); break;
          case 3: bytes = Buffer.concat([bytes.subarray(0, pos), bytes.subarray(pos + 1 + rand(6))]); break;
          case 4: bytes[rand(8)] = rand(256); break;
        }
      }
      await writeFile(file, bytes);
      try {
        const model = await loadModel(dir, { threads: 1, maxSeqLen: 8 });
        model.dispose();
        loaded++;
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        expect(typeof code, String(e)).toBe('string');
        codes.set(code as string, (codes.get(code as string) ?? 0) + 1);
      }
    }
    await truncate(file, 0);
    expect(loaded + [...codes.values()].reduce((a, b) => a + b, 0)).toBe(1000);
    // Most mutations break the JSON; some must reach the deeper checks.
    expect(codes.get('SAFETENSORS_HEADER_INVALID') ?? 0).toBeGreaterThan(100);
    expect(codes.size).toBeGreaterThanOrEqual(3);
  });
});
