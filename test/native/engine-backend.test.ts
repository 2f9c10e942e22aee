// The native Backend over the real engine: records built from C++ stamps, stop strings via a
// decoder, timeouts/aborts and bad prompts as success:false records.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNativeBackend } from '../../src/backends/native.js';
import type { Backend, GenerationSettings } from '../../src/backends/types.js';
import { makeFixtures, SKIP_NATIVE, storiesReference, type FixtureDirs } from './helpers/fixtures.js';

// One letter per id: enough to exercise stop strings over a real id stream.
const letters = (ids: readonly number[]): string => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');

const settings = (over: Partial<GenerationSettings> = {}): GenerationSettings => ({
  maxNewTokens: 30,
  minNewTokens: 0,
  temperature: 0,
  stopIds: [1],
  ...over,
});

describe.skipIf(SKIP_NATIVE)('native backend', () => {
  let fx: FixtureDirs;
  let backend: Backend;
  const ref = storiesReference()[0]!;

  beforeAll(async () => {
    fx = await makeFixtures();
    backend = createNativeBackend({ modelPath: fx.stories, threads: 1, decode: (ids) => letters(ids) });
  });
  afterAll(async () => {
    await backend?.close();
    await fx?.cleanup();
  });

  it('open() describes the loaded model', async () => {
    const d = await backend.open();
    expect(d).toMatchObject({ backend: 'native', model: fx.stories, device: 'cpu', dtype: 'f32' });
    expect(d.gpuOrdinals).toBeUndefined();
    expect(d.details).toMatchObject({ architecture: 'LlamaForCausalLM', numParameters: 260032, threads: 1 });
  });

  it('a record carries engine timings, counts and text', async () => {
    const before = process.hrtime.bigint();
    const r = await backend.generate({ index: 3, text: '', promptIds: ref.prompt_ids }, settings());
    expect(r.success).toBe(true);
    expect(r.index).toBe(3);
    expect(r.completionTokens).toBe(30);
    expect(r.promptTokens).toBe(ref.prompt_ids.length);
    expect(r.tokenCountSource).toBe('engine');
    expect(r.finishReason).toBe('length');
    expect(r.text).toBe(letters(ref.generated_ids.slice(0, 30)));
    expect(r.startNs > before && r.endNs >= r.startNs).toBe(true);
    expect(r.itlMs).toHaveLength(29);
    expect(r.iclMs).toEqual(r.itlMs);
    expect(r.ttstMs).toBe(r.itlMs[0]);
    expect(r.ttfoMs).toBe(r.ttftMs);
    expect(r.prefillMs!).toBeLessThanOrEqual(r.ttftMs!);
    const sumItl = r.itlMs.reduce((a, b) => a + b, 0);
    expect(r.e2eMs!).toBeCloseTo(r.ttftMs! + sumItl, 6);
    expect(r.tpotMs!).toBeCloseTo((r.e2eMs! - r.ttftMs!) / 29, 9);
    expect(r.queueMs).toBeGreaterThanOrEqual(0);
  });

  it('min_new_tokens keeps a story that ends early going: no stop id until then, a successful record', async () => {
    // A reference case whose story ends (llama2.c's BOS, id 1) within a few tokens.
    const short = storiesReference().find((c) => c.stopped_on_bos)!;
    const natural = await backend.generate({ index: 0, text: '', promptIds: short.prompt_ids }, settings({ maxNewTokens: 10 }));
    expect(natural.finishReason).toBe('stop');
    expect(natural.completionTokens!).toBeLessThan(10);
    const forced = await backend.generate({ index: 0, text: '', promptIds: short.prompt_ids }, settings({ maxNewTokens: 10, minNewTokens: 10 }));
    expect(forced).toMatchObject({ success: true, completionTokens: 10, finishReason: 'length' });
    expect(forced.text.startsWith(natural.text)).toBe(true);
    expect(forced.itlMs).toHaveLength(9);
  });

  it('a stop string ends the generation with the text before it', async () => {
    const full = letters(ref.generated_ids.slice(0, 200));
    const stop = full.slice(2, 4);
    const used = full.indexOf(stop) + stop.length; // one letter per token
    const r = await backend.generate({ index: 0, text: '', promptIds: ref.prompt_ids }, settings({ maxNewTokens: 200, stopStrings: [stop] }));
    expect(r.success).toBe(true);
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(full.slice(0, full.indexOf(stop)));
    // Tokens generated after the stop (before the abort landed) are not counted or timed.
    expect(r.completionTokens).toBe(used);
    expect(r.itlMs).toHaveLength(used - 1);
  });

  it('failures are success:false records, never throws', async () => {
    const noIds = await backend.generate({ index: 1, text: 'hello' }, settings());
    expect(noIds).toMatchObject({ success: false, ttftMs: null, tokenCountSource: 'engine' });
    expect(noIds.error).toMatch(/no promptIds/);

    const badId = await backend.generate({ index: 2, text: '', promptIds: [1, 9999] }, settings());
    expect(badId.success).toBe(false);
    expect(badId.error).toMatch(/INVALID_ARGUMENT: promptIds\[1\] must be in \[0, 511\]/);

    const aborted = await backend.generate({ index: 4, text: '', promptIds: [1] }, settings({ maxNewTokens: 400, stopIds: [] }), AbortSignal.abort());
    expect(aborted).toMatchObject({ success: false, error: 'aborted', completionTokens: 0 });

    const timedOut = await backend.generate({ index: 5, text: '', promptIds: [1] }, settings({ maxNewTokens: 500, stopIds: [], timeoutMs: 1 }));
    expect(timedOut.success).toBe(false);
    expect(timedOut.error).toBe('timeout after 1 ms');
  });

  it('uses encode() when the prompt has no ids', async () => {
    const b = createNativeBackend({ modelPath: fx.stories, threads: 1, encode: async () => ref.prompt_ids });
    try {
      await b.open();
      const r = await b.generate({ index: 0, text: 'anything' }, settings({ maxNewTokens: 5 }));
      expect(r.success).toBe(true);
      expect(r.text).toBe(''); // no decoder
      expect(r.completionTokens).toBe(5);
    } finally {
      await b.close();
    }
  });
});
