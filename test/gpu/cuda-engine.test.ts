// CUDA checks of the native engine. They run only where the addon was built against a CUDA
// libtorch and a GPU is visible (the GPU device run: scripts/gpu-check.sh). CI machines have
// no GPU, so this suite is skipped there — the condition below is one CI cannot meet.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { convertLlama2c } from '../../src/convert/llama2c.js';
import { loadModel, type NativeModel } from '../../src/engine/index.js';
import { nativeRuntimeInfo } from '../../src/native/index.js';
import { stories260kDir } from '../helpers/fixtures.js';
import { TINY_LLAMA, tinyTensors, writeTinyCheckpoint } from '../native/checkpoint-helpers.js';
import { GPT2_TINY, gpt2ReferenceGreedy, gpt2ReferenceLogits, writeGpt2Checkpoint } from '../native/helpers/gpt2-fixtures.js';

function cudaAvailable(): boolean {
  try {
    return nativeRuntimeInfo().cudaAvailable;
  } catch {
    return false;
  }
}

interface ReferenceCase {
  prompt_ids: number[];
  max_new_tokens: number;
  generated_ids: number[];
  compare_first: number;
  first_step_logits: number[];
}

const BOS = 1;

function leadingMatches(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function maxAbsError(a: Float32Array, b: readonly number[]): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.skipIf(!cudaAvailable())('CUDA engine (stories260K)', () => {
  const fixture = stories260kDir();
  const reference = JSON.parse(readFileSync(join(fixture, 'reference.json'), 'utf8')) as { cases: ReferenceCase[] };
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aeb-gpu-'));
    await convertLlama2c(join(fixture, 'stories260K.bin'), dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('f32 on cuda:0 matches llama2.c exactly', () => {
    let model: NativeModel;
    beforeAll(async () => {
      model = await loadModel(dir, { device: 'cuda:0', dtype: 'f32' });
    });
    afterAll(() => model?.dispose());

    it('runs on the GPU', () => {
      expect(model.info.device).toBe('cuda:0');
      expect(model.info.dtype).toBe('f32');
    });

    it.each(reference.cases.map((c, i) => [i, c] as const))('case %i', async (_i, c) => {
      const result = await model.generate(c.prompt_ids, { maxNewTokens: c.max_new_tokens, stopIds: [BOS], returnFirstLogits: true }).result;
      expect(leadingMatches(result.ids, c.generated_ids)).toBeGreaterThanOrEqual(c.compare_first);
      expect(maxAbsError(result.firstLogits!, c.first_step_logits)).toBeLessThan(1e-3);
      // Token stamps are taken after the device work: strictly ordered, after prefill.
      expect(result.tokenNs[0]!).toBeGreaterThanOrEqual(result.prefillDoneNs);
      for (let i = 1; i < result.tokenNs.length; i++) expect(result.tokenNs[i]!).toBeGreaterThan(result.tokenNs[i - 1]!);
    });
  });

  it.each(['bf16', 'f16'] as const)('%s on cuda agrees with the reference on the first steps', async (dtype) => {
    const model = await loadModel(dir, { device: 'cuda', dtype });
    try {
      let matched = 0;
      let maxErr = 0;
      for (const c of reference.cases) {
        const r = await model.generate(c.prompt_ids, { maxNewTokens: c.max_new_tokens, stopIds: [BOS], returnFirstLogits: true }).result;
        matched += leadingMatches(r.ids, c.generated_ids);
        maxErr = Math.max(maxErr, maxAbsError(r.firstLogits!, c.first_step_logits));
      }
      console.log(`[gpu] ${dtype}: ${matched} leading ids matched over ${reference.cases.length} cases; max first-step logit error ${maxErr.toExponential(2)}`);
      expect(maxErr).toBeLessThan(0.25);
      expect(matched).toBeGreaterThanOrEqual(reference.cases.length * 3);
    } finally {
      model.dispose();
    }
  });

  it('aborts a CUDA generation mid-way and keeps the tokens so far', async () => {
    const model = await loadModel(dir, { device: 'cuda', dtype: 'f32' });
    try {
      const controller = new AbortController();
      const stream = model.generate([BOS], { maxNewTokens: 400, stopIds: [], signal: controller.signal });
      let seen = 0;
      for await (const _event of stream) {
        if (++seen === 5) controller.abort();
      }
      const result = await stream.result;
      expect(result.stopReason).toBe('aborted');
      expect(result.ids.length).toBeGreaterThanOrEqual(5);
      expect(result.ids.length).toBeLessThan(400);
    } finally {
      model.dispose();
    }
  });

  it('rejects a CUDA ordinal that does not exist with DEVICE_UNAVAILABLE', async () => {
    await expect(loadModel(dir, { device: 'cuda:4096' })).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
  });
});

// Code paths the stories260K checks do not reach: sliding windows (band-masked prefill,
// windowed decode; on every layer or some) and GPT-2, each against its float64 TypeScript reference.
describe.skipIf(!cudaAvailable())('CUDA engine (sliding window, GPT-2)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'aeb-gpu-arch-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  // Mistral windows every layer; Qwen2 with use_sliding_window only the layers from
  // max_window_layers on (here layer 1 of 2).
  it.each([
    ['Mistral', { architecture: 'MistralForCausalLM' as const, extraConfig: { sliding_window: 3 } }],
    ['Qwen2', { architecture: 'Qwen2ForCausalLM' as const, extraConfig: { use_sliding_window: true, sliding_window: 3, max_window_layers: 1 } }],
  ])('%s with a window shorter than the prompt: CUDA logits match the CPU engine and greedy ids agree', async (label, variant) => {
    const cfg = { ...TINY_LLAMA, layers: 2, ...variant };
    const dir = join(root, label);
    await mkdir(dir);
    await writeTinyCheckpoint(dir, cfg, tinyTensors(cfg));
    const prompt = [1, 7, 3, 30, 12, 5];
    const opts = { maxNewTokens: 16, stopIds: [], returnFirstLogits: true };
    const cpu = await loadModel(dir, { device: 'cpu', dtype: 'f32', threads: 1 });
    const gpu = await loadModel(dir, { device: 'cuda', dtype: 'f32' });
    try {
      const a = await cpu.generate(prompt, opts).result;
      const b = await gpu.generate(prompt, opts).result;
      expect(maxAbsError(b.firstLogits!, Array.from(a.firstLogits!))).toBeLessThan(1e-4);
      expect(leadingMatches(b.ids, a.ids)).toBeGreaterThanOrEqual(8);
    } finally {
      cpu.dispose();
      gpu.dispose();
    }
  });

  it('GPT-2: CUDA logits within 1e-4 of the float64 reference, greedy ids equal', async () => {
    const dir = join(root, 'gpt2');
    await writeGpt2Checkpoint(dir, GPT2_TINY);
    const prompt = [3, 17, 42];
    const model = await loadModel(dir, { device: 'cuda', dtype: 'f32' });
    try {
      const r = await model.generate(prompt, { maxNewTokens: 10, stopIds: [], returnFirstLogits: true }).result;
      expect(maxAbsError(r.firstLogits!, Array.from(gpt2ReferenceLogits(GPT2_TINY, prompt)))).toBeLessThan(1e-4);
      const ref = gpt2ReferenceGreedy(GPT2_TINY, prompt, 10);
      if (ref.minGap > 1e-3) expect(r.ids).toEqual(ref.ids);
    } finally {
      model.dispose();
    }
  });
});
