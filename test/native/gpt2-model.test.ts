// GPT-2 checkpoints through loadModel(dir): a small random-weight GPT2LMHeadModel written by the
// test against an independent f64 TypeScript forward pass; KV-cache decode against full
// recompute; tensor naming with and without "transformer."; validation errors.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type NativeModel } from '../../src/engine/index.js';
import { SKIP_NATIVE } from './helpers/fixtures.js';
import {
  GPT2_TINY, gpt2ParameterCount, gpt2ReferenceGreedy, gpt2ReferenceLogits, writeGpt2Checkpoint,
} from './helpers/gpt2-fixtures.js';

const PROMPT = [5, 17, 42, 3, 9];
const STEPS = 8;

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.skipIf(SKIP_NATIVE)('GPT-2 (GPT2LMHeadModel safetensors)', () => {
  let root: string;
  let model: NativeModel;
  const reference = gpt2ReferenceGreedy(GPT2_TINY, PROMPT, STEPS);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'aeb-gpt2-'));
    await writeGpt2Checkpoint(join(root, 'prefixed'), GPT2_TINY);
    model = await loadModel(join(root, 'prefixed'), { dtype: 'f32', threads: 1 });
  });
  afterAll(async () => {
    model?.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('reports the architecture from config.json', () => {
    expect(model.info).toMatchObject({
      architecture: 'GPT2LMHeadModel', format: 'safetensors', device: 'cpu', dtype: 'f32', vocabSize: 64, hiddenSize: 32,
      numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 8, maxSeqLen: 48, eosIds: [0],
    });
    expect(model.info.numParameters).toBe(gpt2ParameterCount(GPT2_TINY));
  });

  it('first-step logits agree with the f64 reference within 1e-4', async () => {
    const result = await model.generate(PROMPT, { maxNewTokens: 1, returnFirstLogits: true }).result;
    expect(maxAbsDiff(result.firstLogits!, gpt2ReferenceLogits(GPT2_TINY, PROMPT))).toBeLessThan(1e-4);
  });

  it('greedy ids match the reference (no near-ties in the fixture)', async () => {
    expect(reference.minGap).toBeGreaterThan(1e-3); // the comparison is meaningful only without near-ties
    const result = await model.generate(PROMPT, { maxNewTokens: STEPS, stopIds: [] }).result;
    expect(result.ids).toEqual(reference.ids);
    expect(result.stopReason).toBe('max_new_tokens');
  });

  it('KV-cache decode equals full recompute at every step', async () => {
    const decoded = await model.generate(PROMPT, { maxNewTokens: STEPS, stopIds: [] }).result;
    for (let k = 1; k < STEPS; k++) {
      const context = [...PROMPT, ...decoded.ids.slice(0, k)];
      const recomputed = await model.generate(context, { maxNewTokens: 1, stopIds: [], returnFirstLogits: true }).result;
      expect(recomputed.ids[0]).toBe(decoded.ids[k]);
      expect(maxAbsDiff(recomputed.firstLogits!, gpt2ReferenceLogits(GPT2_TINY, context))).toBeLessThan(1e-4);
    }
  });

  it('loads tensors saved without the "transformer." prefix', async () => {
    const dir = join(root, 'bare');
    await writeGpt2Checkpoint(dir, GPT2_TINY, { prefix: false });
    const bare = await loadModel(dir, { threads: 1 });
    try {
      const a = await bare.generate(PROMPT, { maxNewTokens: 3, stopIds: [], returnFirstLogits: true }).result;
      const b = await model.generate(PROMPT, { maxNewTokens: 3, stopIds: [], returnFirstLogits: true }).result;
      expect(a.ids).toEqual(b.ids);
      expect(maxAbsDiff(a.firstLogits!, b.firstLogits!)).toBe(0);
    } finally {
      bare.dispose();
    }
  });

  it('stops on the eos id from config.json unless min_new_tokens says otherwise', async () => {
    const eos = reference.ids[3]!;
    const dir = join(root, 'eos');
    await writeGpt2Checkpoint(dir, GPT2_TINY, { config: { eos_token_id: eos } });
    const m = await loadModel(dir, { threads: 1 });
    try {
      const stopped = await m.generate(PROMPT, { maxNewTokens: STEPS }).result;
      expect(stopped.stopReason).toBe('stop_id');
      expect(stopped.ids).toEqual(reference.ids.slice(0, reference.ids.indexOf(eos) + 1));
      // Until min_new_tokens the eos id cannot be sampled: greedy takes the next best there.
      const forced = await m.generate(PROMPT, { maxNewTokens: STEPS, minNewTokens: STEPS }).result;
      const at = reference.ids.indexOf(eos);
      expect(forced.ids).toHaveLength(STEPS);
      expect(forced.ids).not.toContain(eos);
      expect(forced.ids.slice(0, at)).toEqual(reference.ids.slice(0, at));
      expect(forced.stopReason).toBe('max_new_tokens');
    } finally {
      m.dispose();
    }
  });

  it('runs in bf16 on the CPU close to the f32 result', async () => {
    const m = await loadModel(join(root, 'prefixed'), { dtype: 'bf16', threads: 1 });
    try {
      expect(m.info.dtype).toBe('bf16');
      const r = await m.generate(PROMPT, { maxNewTokens: 2, returnFirstLogits: true }).result;
      expect(maxAbsDiff(r.firstLogits!, gpt2ReferenceLogits(GPT2_TINY, PROMPT))).toBeLessThan(0.25);
    } finally {
      m.dispose();
    }
  });

  it('enforces n_positions', async () => {
    await expect(loadModel(join(root, 'prefixed'), { maxSeqLen: 49 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/n_positions/) });
    expect(() => model.generate(PROMPT, { maxNewTokens: 45 })).toThrow(/maxSeqLen 48/);
    // The last generated token is never fed back: prompt + max_new - 1 = n_positions fits.
    const full = await model.generate(PROMPT, { maxNewTokens: 44, stopIds: [] }).result;
    expect(full.ids).toHaveLength(44);
  });

  it.each([
    {
      label: 'a missing tensor', code: 'TENSOR_MISSING', pattern: /transformer\.h\.1\.mlp\.c_fc\.bias/,
      opts: { edit: (ts: { name: string }[]) => ts.filter((t) => t.name !== 'transformer.h.1.mlp.c_fc.bias') },
    },
    {
      label: 'a Linear-layout (out, in) c_attn weight', code: 'TENSOR_SHAPE_MISMATCH', pattern: /c_attn\.weight.*\[96, 32\].*\[32, 96\]/,
      opts: {
        edit: <T extends { name: string; shape: number[] }>(ts: T[]) =>
          ts.map((t) => (t.name === 'transformer.h.0.attn.c_attn.weight' ? { ...t, shape: [96, 32] } : t)),
      },
    },
    { label: 'an unsupported activation', code: 'CONFIG_INVALID', pattern: /activation_function/, opts: { config: { activation_function: 'relu' } } },
    { label: 'a missing n_embd', code: 'CONFIG_INVALID', pattern: /n_embd/, opts: { config: { n_embd: null } } },
    { label: 'an implausible layer count', code: 'CONFIG_INVALID', pattern: /n_layer.*2147483648, implausibly large \(at most 4096\)/, opts: { config: { n_layer: 2 ** 31 } } },
  ])('rejects $label', async ({ code, pattern, opts }) => {
    const dir = join(root, `bad-${code}-${String(pattern).length}`);
    await writeGpt2Checkpoint(dir, GPT2_TINY, opts as Parameters<typeof writeGpt2Checkpoint>[2]);
    await expect(loadModel(dir)).rejects.toMatchObject({ code, message: expect.stringMatching(pattern) });
  });
});
