// The CPU decode kernels split large regions across the worker pool by output rows. Splitting
// must not change a single bit: each row's dot product is computed by one thread in the same
// order, whatever the thread count. A model large enough to split (every projection above the
// pool's per-thread minimum) is run with 1, 2 and 3 threads.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../../src/engine/index.js';
import { writeTinyCheckpoint, type TinyConfig } from './checkpoint-helpers.js';
import { SKIP_NATIVE } from './helpers/fixtures.js';

const SPLITTING: TinyConfig = {
  architecture: 'LlamaForCausalLM', hidden: 512, layers: 2, heads: 8, kvHeads: 4, intermediate: 1536, vocab: 300, maxPos: 128, tie: false,
};
const PROMPT = [1, 17, 42, 99, 5, 250, 7];

describe.skipIf(SKIP_NATIVE)('CPU decode across thread counts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aeb-threads-'));
    await writeTinyCheckpoint(dir, SPLITTING);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function run(threads: number) {
    const model = await loadModel(dir, { threads });
    try {
      expect(model.info.threads).toBe(threads);
      // Several generations in a row: the pool's workers sleep and wake between them.
      const results = [];
      for (let i = 0; i < 3; i++) {
        results.push(await model.generate(PROMPT, { maxNewTokens: 24, minNewTokens: 24, stopIds: [], returnFirstLogits: true }).result);
      }
      return results;
    } finally {
      model.dispose();
    }
  }

  it('1, 2 and 3 threads give bit-identical logits and the same greedy ids', async () => {
    const [one, two, three] = [await run(1), await run(2), await run(3)];
    for (const r of [...one, ...two, ...three]) {
      expect(r.ids).toEqual(one[0]!.ids);
      expect(Buffer.from(r.firstLogits!.buffer).equals(Buffer.from(one[0]!.firstLogits!.buffer))).toBe(true);
    }
    expect(new Set(one[0]!.ids).size).toBeGreaterThan(1); // not a degenerate repeat of one id
  });
});
