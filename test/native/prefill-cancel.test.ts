// abort() and dispose() during a long prompt's prefill take effect between layers: the
// generation ends as aborted with no token (a prefill that ran to its end would have produced
// and delivered the first token before the loop saw the flag).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type NativeModel } from '../../src/engine/index.js';
import { writeTinyCheckpoint, type TinyConfig } from './checkpoint-helpers.js';
import { SKIP_NATIVE } from './helpers/fixtures.js';

// 12 layers at hidden 256: a 1,000-token prefill takes about a second on one thread here.
const LONG_PREFILL: TinyConfig = {
  architecture: 'LlamaForCausalLM', hidden: 256, layers: 12, heads: 4, kvHeads: 2, intermediate: 704, vocab: 256, maxPos: 2048, tie: true,
};
const PROMPT = Array.from({ length: 1000 }, (_, i) => (i * 13 + 5) % 256);

describe.skipIf(SKIP_NATIVE)('cancelling during a long prefill', () => {
  let dir: string;
  let model: NativeModel;
  let fullPrefillMs: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aeb-prefill-cancel-'));
    await writeTinyCheckpoint(dir, LONG_PREFILL);
    model = await loadModel(dir, { threads: 1 });
    fullPrefillMs = (await model.generate(PROMPT, { maxNewTokens: 1, stopIds: [] }).result).prefillMs;
  }, 120_000);
  afterAll(async () => {
    model?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('abort() mid-prefill ends the generation as aborted with no token, well before the prefill would end', async () => {
    const ac = new AbortController();
    const started = performance.now();
    const stream = model.generate(PROMPT, { maxNewTokens: 50, stopIds: [], signal: ac.signal });
    setTimeout(() => ac.abort(), fullPrefillMs / 5);
    const r = await stream.result;
    expect(r.stopReason).toBe('aborted');
    expect(r.ids).toEqual([]);
    // The prompt's forward never finished: no prefill time, rather than a partial one.
    expect(r.prefillDoneNs).toBeNull();
    expect(r.prefillMs).toBeNull();
    expect(performance.now() - started).toBeLessThan(fullPrefillMs * 0.9 + 50);
  });

  it('dispose() mid-prefill returns after one layer, not the whole prompt', async () => {
    const other = await loadModel(dir, { threads: 1 });
    const pending = other.generate(PROMPT, { maxNewTokens: 50, stopIds: [] }).result;
    await new Promise((r) => setTimeout(r, fullPrefillMs / 5));
    const t0 = performance.now();
    other.dispose();
    const blockedMs = performance.now() - t0;
    const r = await pending;
    expect(r.stopReason).toBe('aborted');
    expect(r.ids).toEqual([]);
    expect(blockedMs).toBeLessThan(fullPrefillMs / 2);
  });
});
