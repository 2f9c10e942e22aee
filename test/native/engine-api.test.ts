// The TS engine API over the real addon: validation, token delivery, abort, dispose,
// queueing and two models at once. Uses the real stories260K model (llama2.c reference ids).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type NativeModel, type TokenEvent } from '../../src/engine/index.js';
import { hotLoopHolders } from '../../src/engine/busy-poll.js';
import { loadAddon, nativeRuntimeInfo } from '../../src/native/index.js';
import { makeFixtures, SKIP_NATIVE, storiesReference, type FixtureDirs } from './helpers/fixtures.js';

describe.skipIf(SKIP_NATIVE)('native engine API', () => {
  let fx: FixtureDirs;
  let model: NativeModel;

  beforeAll(async () => {
    fx = await makeFixtures();
    model = await loadModel(fx.stories, { threads: 1 });
  });
  afterAll(async () => {
    model?.dispose();
    await fx?.cleanup();
  });

  it('reports the model info in camelCase', () => {
    expect(model.info).toMatchObject({
      architecture: 'LlamaForCausalLM',
      format: 'safetensors',
      device: 'cpu',
      dtype: 'f32',
      vocabSize: 512,
      hiddenSize: 64,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      threads: 1,
    });
    expect(model.info.eosIds).toContain(2);
    expect(model.info.weightBytes).toBeGreaterThan(0);
  });

  it('nativeRuntimeInfo() joins the runtime with the recorded build info', () => {
    const info = nativeRuntimeInfo();
    expect(info.torchVersion).toMatch(/^\d+\.\d+/);
    expect(info.threads).toBeGreaterThan(0);
    expect(info.addonPath).toMatch(/aeb\.node$/);
    if (info.build) {
      // Written by scripts/install-native.mjs; absent only for hand-made builds.
      expect(info.torchVersion.startsWith(info.build.torch.version.split('.').slice(0, 2).join('.'))).toBe(true);
      expect(info.build.torch.abiFlag).toMatch(/^-D_GLIBCXX_USE_CXX11_ABI=[01]$/);
    }
  });

  describe('argument validation', () => {
    it('rejects bad load arguments before native code', async () => {
      await expect(loadModel('')).rejects.toThrow(RangeError);
      await expect(loadModel(42 as unknown as string)).rejects.toThrow(/path must be a string, got number 42/);
      await expect(loadModel(fx.stories, { dtype: 'f64' as 'f32' })).rejects.toThrow(/options\.dtype must be one of 'f32', 'bf16', 'f16'/);
      await expect(loadModel(fx.stories, { device: 'gpu' })).rejects.toThrow(/options\.device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'/);
      await expect(loadModel(fx.stories, { threads: 0 })).rejects.toThrow(/options\.threads must be in \[1, 4096\], got 0/);
      await expect(loadModel(fx.stories, { thread: 2 } as object)).rejects.toThrow(/options\.thread is not a load option/);
      await expect(loadModel(`${fx.stories}\0/x`)).rejects.toThrow(/path must not contain a NUL character/);
    });

    it('rejects a missing checkpoint with the engine code and a stack pointing here', async () => {
      const err = (await loadModel(`${fx.root}/nope`).catch((e: unknown) => e)) as Error & { code: string };
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe('FILE_NOT_FOUND');
      expect(err.message).toContain(`${fx.root}/nope`);
      expect(err.stack).toContain('engine-api.test.ts');
      expect(err.stack).not.toMatch(/frame #0|Exception raised from/);
    });

    it('rejects bad generate arguments with precise messages', () => {
      expect(() => model.generate([])).toThrow(/promptIds must contain at least one token id/);
      expect(() => model.generate([1, 1.5])).toThrow(/promptIds\[1\] must be an integer, got 1.5/);
      expect(() => model.generate([1, 512])).toThrow(/promptIds\[1\] must be in \[0, 511\], got 512/);
      expect(() => model.generate('1,2' as unknown as number[])).toThrow(TypeError);
      expect(() => model.generate([1], { temperature: -1 })).toThrow(/options\.temperature must be a finite number >= 0/);
      expect(() => model.generate([1], { topP: 0 })).toThrow(/options\.topP must be a finite number > 0 and <= 1, got 0/);
      expect(() => model.generate([1], { maxNewTokens: 0 })).toThrow(RangeError);
      expect(() => model.generate([1], { maxNewTokens: 600 })).toThrow(/exceeds the model's maxSeqLen 512/);
      expect(() => model.generate([1], { stopIds: [-1] })).toThrow(/options\.stopIds\[0\] must be in \[0, 511\]/);
      // Holes of sparse arrays are checked like any element, with the engine's code.
      // eslint-disable-next-line no-sparse-arrays
      expect(() => model.generate([1, , 3])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'promptIds[1] must be an integer, got undefined' }));
      // eslint-disable-next-line no-sparse-arrays
      expect(() => model.generate([1], { stopIds: [2, , 3] })).toThrow(/options\.stopIds\[1\] must be an integer, got undefined/);
      expect(() => model.generate([1], { seed: 2 ** 70 })).toThrow(/options\.seed must be a safe integer \(\|n\| <= 2\^53 - 1\), got 1\.1805916207174113e\+21/);
      expect(() => model.generate([1], { maxTokens: 3 } as object)).toThrow(/options\.maxTokens is not a generate option/);
      expect(() => model.generate([1], { signal: {} as AbortSignal })).toThrow(/options\.signal must be an AbortSignal/);
      expect(() => model.generate([1], { busyPoll: 'yes' as unknown as boolean })).toThrow(/options\.busyPoll must be a boolean, got string/);
    });

    it('the raw addon validates too (TypeError/RangeError naming the option)', async () => {
      const addon = loadAddon();
      expect(() => addon.loadModel(fx.stories, { dtype: 'f64' as 'f32' })).toThrow(RangeError); // synchronous, like all argument errors
      const raw = await addon.loadModel(fx.stories, { threads: 1 });
      try {
        expect(() => raw.generate('x' as unknown as number[], {})).toThrow(/promptIds must be an array of integers, got string/);
        expect(() => raw.generate([1], { topK: -1 })).toThrow(/options\.topK must be in \[0, 2147483647\], got -1/);
        expect(() => raw.generate([1], { seed: 1.5 })).toThrow(/options\.seed must be an integer, got 1.5/);
        expect(() => raw.generate([1], [] as object)).toThrow(/options must be an object, got array/);
        const e = (await raw.generate([600], {}).catch((x: unknown) => x)) as Error & { code: string };
        expect(e.code).toBe('INVALID_ARGUMENT');
        expect(e.message).toMatch(/outside the vocabulary/);
      } finally {
        raw.dispose();
      }
      expect(raw.disposed).toBe(true);
      expect(() => raw.generate([1], {})).toThrow(expect.objectContaining({ code: 'MODEL_DISPOSED' }));
    });

    it('a raw token listener that throws any value (not only an Error) stops the generation, which rejects with that value', async () => {
      const raw = await loadAddon().loadModel(fx.stories, { threads: 1 });
      try {
        for (const thrown of ['str', 42, null, new Error('boom')]) {
          let calls = 0;
          const outcome = await raw.generate([1], { maxNewTokens: 50, stopIds: [] }, (_id, index) => {
            calls++;
            if (index === 5) throw thrown;
          }).then(() => 'resolved', (e: unknown) => e);
          expect(outcome).toBe(thrown);
          expect(calls).toBe(6);
        }
      } finally {
        raw.dispose();
      }
    });
  });

  it('generates the llama2.c reference ids (greedy, f32) with first-step logits', async () => {
    const ref = storiesReference()[0]!;
    const r = await model.generate(ref.prompt_ids, {
      maxNewTokens: ref.compare_first,
      stopIds: [1],
      returnFirstLogits: true,
    }).result;
    expect(r.ids.slice(0, ref.compare_first)).toEqual(ref.generated_ids.slice(0, ref.compare_first));
    expect(r.firstLogits).toBeInstanceOf(Float32Array);
    const maxDiff = Math.max(...ref.first_step_logits.map((v, i) => Math.abs(v - r.firstLogits![i]!)));
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it('delivers every token in order with monotonic C++ stamps equal to result.tokenNs', async () => {
    const before = process.hrtime.bigint();
    const stream = model.generate([1], { maxNewTokens: 200, stopIds: [] });
    const events: TokenEvent[] = [];
    for await (const ev of stream) events.push(ev);
    const r = await stream.result;
    const after = process.hrtime.bigint();
    expect(r.stopReason).toBe('max_new_tokens');
    expect(events.map((e) => e.index)).toEqual([...Array(200).keys()]);
    expect(events.map((e) => e.id)).toEqual(r.ids);
    expect(events.map((e) => e.timeNs)).toEqual(r.tokenNs);
    for (let i = 1; i < events.length; i++) expect(events[i]!.timeNs >= events[i - 1]!.timeNs).toBe(true);
    // Same clock as process.hrtime.bigint().
    expect(r.startNs > before && r.endNs < after).toBe(true);
    expect(r.startNs <= r.prefillDoneNs && r.prefillDoneNs <= r.tokenNs[0]!).toBe(true);
    expect(r.ttftMs).toBeCloseTo(Number(r.tokenNs[0]! - r.startNs) / 1e6, 6);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
    expect(r.promptTokens).toBe(1);
  });

  it('busyPoll holds the event loop hot only while its generation runs (same ids, also when aborted)', async () => {
    const plain = await model.generate([1], { maxNewTokens: 50, stopIds: [] }).result;
    expect(hotLoopHolders()).toBe(0);
    const stream = model.generate([1], { maxNewTokens: 50, stopIds: [], busyPoll: true });
    const heldDuring: number[] = [];
    for await (const _ of stream) heldDuring.push(hotLoopHolders());
    const r = await stream.result;
    expect(r.ids).toEqual(plain.ids);
    expect(heldDuring.every((n) => n === 1)).toBe(true);
    expect(hotLoopHolders()).toBe(0);
    const ac = new AbortController();
    const aborted = model.generate([1], { maxNewTokens: 500, stopIds: [], busyPoll: true, signal: ac.signal });
    for await (const ev of aborted) if (ev.index === 3) ac.abort();
    expect((await aborted.result).stopReason).toBe('aborted');
    expect(hotLoopHolders()).toBe(0);
  });

  it('aborts mid-generation through an AbortSignal, keeping the tokens so far', async () => {
    const ac = new AbortController();
    const stream = model.generate([1], { maxNewTokens: 500, stopIds: [], signal: ac.signal });
    let seen = 0;
    for await (const ev of stream) {
      seen++;
      if (ev.index === 4) ac.abort();
    }
    const r = await stream.result;
    expect(r.stopReason).toBe('aborted');
    expect(r.ids.length).toBeGreaterThanOrEqual(5);
    expect(r.ids.length).toBeLessThan(500);
    expect(seen).toBe(r.ids.length);
  });

  it('an already-aborted signal resolves at once with no tokens', async () => {
    const r = await model.generate([1], { signal: AbortSignal.abort() }).result;
    expect(r.stopReason).toBe('aborted');
    expect(r.ids).toEqual([]);
    expect(r.ttftMs).toBeNull();
    expect(r.prefillMs).toBeNull();
  });

  it('breaking out of the iteration aborts the generation', async () => {
    const stream = model.generate([1], { maxNewTokens: 500, stopIds: [] });
    for await (const ev of stream) if (ev.index === 2) break;
    const r = await stream.result;
    expect(r.stopReason).toBe('aborted');
    expect(r.ids.length).toBeLessThan(500);
  });

  it('queues concurrent generations on one model in call order', async () => {
    const a = model.generate([1], { maxNewTokens: 50, stopIds: [] });
    const b = model.generate([1], { maxNewTokens: 50, stopIds: [] });
    expect(model.pending).toBe(2);
    const [ra, rb] = await Promise.all([a.result, b.result]);
    expect(rb.startNs >= ra.endNs).toBe(true);
    expect(rb.ids).toEqual(ra.ids); // greedy: same prompt, same continuation
    expect(model.pending).toBe(0);
  });

  it('runs two models concurrently on their own threads', async () => {
    const other = await loadModel(fx.stories, { threads: 1 });
    try {
      const opts = { maxNewTokens: 400, stopIds: [] };
      const [r1, r2] = await Promise.all([model.generate([1], opts).result, other.generate([1], opts).result]);
      expect(r2.ids).toEqual(r1.ids);
      // Overlapping intervals: neither waited for the other.
      expect(r1.startNs < r2.endNs && r2.startNs < r1.endNs).toBe(true);
    } finally {
      other.dispose();
    }
  });

  it('dispose() during a generation ends it as aborted, frees the model and is idempotent', async () => {
    const m = await loadModel(fx.tiny, { threads: 1 });
    expect(m.info.vocabSize).toBe(256);
    const stream = m.generate([1, 2, 3], { maxNewTokens: 500, stopIds: [] });
    const queued = m.generate([1], { maxNewTokens: 5 });
    for await (const ev of stream) if (ev.index === 3) m.dispose();
    const r = await stream.result;
    expect(r.stopReason).toBe('aborted');
    expect(r.ids.length).toBeLessThan(500);
    await expect(queued.result).rejects.toMatchObject({ code: 'MODEL_DISPOSED' });
    expect(m.disposed).toBe(true);
    expect(() => m.dispose()).not.toThrow();
    expect(() => m.generate([1])).toThrow(expect.objectContaining({ code: 'MODEL_DISPOSED' }));
  });

  it('seeded sampling is reproducible', async () => {
    const opts = { maxNewTokens: 40, temperature: 1, topK: 40, topP: 0.9, seed: 42, stopIds: [] };
    const r1 = await model.generate([1], opts).result;
    const r2 = await model.generate([1], opts).result;
    expect(r2.ids).toEqual(r1.ids);
  });
});
