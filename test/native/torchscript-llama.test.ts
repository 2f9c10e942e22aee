// TorchScript models through loadModel(path): the real stories260K weights re-expressed as
// TorchScript in both supported export shapes must reproduce llama2.c's reference ids and the
// native Llama path; unsupported shapes, bad files and sidecar metadata are reported clearly.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { convertLlama2c } from '../../src/convert/llama2c.js';
import { loadModel, type NativeModel } from '../../src/engine/index.js';
import { SKIP_NATIVE, STORIES_BIN, storiesReference, type ReferenceCase } from './helpers/fixtures.js';
import {
  llamaParameters, llamaShapeFromConfig, llamaSource, torchScriptAddon,
  type LlamaExport, type LlamaShape, type TorchScriptParameter,
} from './helpers/torchscript-fixtures.js';

const BOS = 1;
const cases = storiesReference().slice(0, 3);

function thrown(f: () => void): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function greedy(model: NativeModel, c: ReferenceCase, limit: number) {
  const maxNewTokens = Math.min(c.compare_first, limit);
  return model.generate(c.prompt_ids, { maxNewTokens, stopIds: [BOS], returnFirstLogits: true }).result;
}

describe.skipIf(SKIP_NATIVE)('TorchScript models (stories260K weights)', () => {
  let root: string;
  let hf: string;
  let shape: LlamaShape;
  let params: Record<string, TorchScriptParameter>;
  let llama: NativeModel;
  const files = {} as Record<LlamaExport, string>;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'aeb-torchscript-'));
    hf = join(root, 'hf');
    await convertLlama2c(STORIES_BIN, hf);
    shape = llamaShapeFromConfig(hf);
    params = llamaParameters(hf, shape);
    const addon = torchScriptAddon();
    for (const exportShape of ['full-recompute', 'kv-optional', 'kv-list'] as const) {
      files[exportShape] = join(root, `${exportShape}.pt`);
      addon.saveTorchScriptModule({ source: llamaSource(shape, exportShape), parameters: params, path: files[exportShape] });
    }
    // Metadata for the full-recompute file comes from module-less sources only: a sidecar.
    writeFileSync(`${files['full-recompute']}.json`, JSON.stringify({ max_seq_len: 512, vocab_size: 512, eos_token_id: 2 }));
    llama = await loadModel(hf, { dtype: 'f32', threads: 1 });
  });
  afterAll(async () => {
    llama?.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  });

  describe.each([
    // Full recompute costs O(T^2) per step: its cases stop after 48 tokens to keep the suite fast.
    { exportShape: 'full-recompute' as const, architecture: 'TorchScript(full-recompute)', layers: 0, limit: 48 },
    { exportShape: 'kv-optional' as const, architecture: 'TorchScript(kv-cache)', layers: 5, limit: Infinity },
    { exportShape: 'kv-list' as const, architecture: 'TorchScript(kv-cache)', layers: 5, limit: Infinity },
  ])('$exportShape export', ({ exportShape, architecture, layers, limit }) => {
    let model: NativeModel;
    beforeAll(async () => {
      model = await loadModel(files[exportShape], { threads: 1, maxSeqLen: 512 });
    });
    afterAll(() => model?.dispose());

    it('is detected from the forward schema', () => {
      expect(model.info).toMatchObject({
        architecture, format: 'torchscript', device: 'cpu', dtype: 'f32', vocabSize: 512, maxSeqLen: 512, numLayers: layers,
      });
      // Stacked weights + the two RoPE tables [512, 8].
      expect(model.info.numParameters).toBe(260032 + 2 * 512 * 8);
    });

    it.each(cases.map((c, i) => [i, c] as const))('case %i: reference ids, native Llama ids and logits', async (_i, c) => {
      const ts = await greedy(model, c, limit);
      const native = await greedy(llama, c, limit);
      expect(ts.ids).toEqual(c.generated_ids.slice(0, Math.min(c.compare_first, limit)));
      expect(ts.ids).toEqual(native.ids);
      expect(ts.stopReason).toBe('max_new_tokens');
      expect(ts.tokenNs).toHaveLength(ts.ids.length);
      expect(ts.prefillDoneNs).toBeGreaterThanOrEqual(ts.startNs);
      expect(maxAbsDiff(ts.firstLogits!, c.first_step_logits)).toBeLessThan(1e-3);
      expect(maxAbsDiff(ts.firstLogits!, native.firstLogits!)).toBeLessThan(1e-4);
    });

    it('streams tokens in order and stops on a stop id', async () => {
      const c = cases[1]!;
      const stop = c.generated_ids[5]!;
      const first = c.generated_ids.indexOf(stop);
      const stream = model.generate(c.prompt_ids, { maxNewTokens: 20, stopIds: [stop] });
      const seen: number[] = [];
      for await (const e of stream) {
        expect(e.index).toBe(seen.length);
        seen.push(e.id);
      }
      const result = await stream.result;
      expect(result.stopReason).toBe('stop_id');
      expect(result.ids).toEqual(c.generated_ids.slice(0, first + 1));
      expect(seen).toEqual(result.ids);
    });

    it('rejects a prompt that does not fit max_seq_len', () => {
      expect(() => model.generate([BOS, 5], { maxNewTokens: 512 })).toThrow(/maxSeqLen 512/);
    });
  });

  it('honours eos ids and limits from the sidecar', async () => {
    const c = cases[1]!;
    const eos = c.generated_ids[7]!;
    const first = c.generated_ids.indexOf(eos);
    const file = join(root, 'sidecar-eos.pt');
    torchScriptAddon().saveTorchScriptModule({ source: llamaSource(shape, 'kv-optional'), parameters: params, path: file });
    writeFileSync(join(root, 'aeb.json'), JSON.stringify({ max_seq_len: 64, eos_token_id: [eos, 511], tokenizer_dir: 'tok' }));
    const model = await loadModel(file, { threads: 1 });
    try {
      expect(model.info.eosIds).toEqual([eos, 511]);
      expect(model.info.maxSeqLen).toBe(64);
      const result = await model.generate(c.prompt_ids, { maxNewTokens: 30 }).result;
      expect(result.stopReason).toBe('stop_id');
      expect(result.ids).toEqual(c.generated_ids.slice(0, first + 1));
      const forced = await model.generate(c.prompt_ids, { maxNewTokens: 30, minNewTokens: 30 }).result;
      expect(forced.ids).toHaveLength(30);
      await expect(loadModel(file, { threads: 1, maxSeqLen: 65 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/aeb\.json/) });
    } finally {
      model.dispose();
      await rm(join(root, 'aeb.json'));
    }
    // Without the sidecar the module itself names no eos ids.
    const bare = await loadModel(file, { threads: 1, maxSeqLen: 128 });
    expect(bare.info.eosIds).toEqual([]);
    bare.dispose();
  });

  it('reads metadata from module attributes and rejects a sidecar that contradicts the module', async () => {
    const file = join(root, 'attributes.pt');
    torchScriptAddon().saveTorchScriptModule({
      source: llamaSource(shape, 'full-recompute'), parameters: params, path: file,
      attributes: { eos_token_id: [2, 3], max_seq_len: 100, vocab_size: 512 },
    });
    const model = await loadModel(file, { threads: 1 });
    expect(model.info).toMatchObject({ eosIds: [2, 3], maxSeqLen: 100, vocabSize: 512 });
    model.dispose();
    await expect(loadModel(file, { threads: 1, maxSeqLen: 101 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    writeFileSync(`${file}.json`, JSON.stringify({ vocab_size: 500 }));
    await expect(loadModel(file, { threads: 1 })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/vocab_size 500/) });
  });

  it('rejects a forward with an unsupported signature, naming the schema and the supported shapes', async () => {
    const file = join(root, 'two-tensors.pt');
    torchScriptAddon().saveTorchScriptModule({
      source: 'def forward(self, a: Tensor, b: Tensor) -> Tensor:\n    return a + b * self.w\n',
      parameters: { w: { data: new Float32Array([1, 2]), shape: [2] } }, path: file,
    });
    const error = await loadModel(file, { maxSeqLen: 8 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TORCHSCRIPT_UNSUPPORTED' });
    expect((error as Error).message).toMatch(/forward\(.*Tensor a, Tensor b\) -> Tensor/);
    expect((error as Error).message).toMatch(/full recompute/);
    expect((error as Error).message).toMatch(/KV cache/);
  });

  it('reports missing and corrupt files and unknown lengths', async () => {
    await expect(loadModel(join(root, 'absent.pt'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    const corrupt = join(root, 'corrupt.pt');
    writeFileSync(corrupt, 'PK\u0003\u0004 definitely not a zip archive');
    await expect(loadModel(corrupt, { maxSeqLen: 8 })).rejects.toMatchObject({ code: 'TORCHSCRIPT_INVALID' });
    const bare = join(root, 'bare', 'model.pt');
    await mkdir(join(root, 'bare'));
    torchScriptAddon().saveTorchScriptModule({ source: llamaSource(shape, 'kv-list'), parameters: params, path: bare });
    await expect(loadModel(bare)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/maxSeqLen/) });
    writeFileSync(`${bare}.json`, '{"max_seq_len": 64,}');
    await expect(loadModel(bare)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('model.pt.json') });
  });

  // libtorch does not verify an archive's checksums and its parser crashed (SIGSEGV) on corrupt
  // code/debug records: the loader checks every entry but the tensor storages first.
  it('refuses an archive whose code entry was corrupted, naming the entry, before libtorch parses it', async () => {
    const file = join(root, 'flipped.pt');
    torchScriptAddon().saveTorchScriptModule({ source: llamaSource(shape, 'full-recompute'), parameters: params, path: file });
    const bytes = readFileSync(file);
    // A code entry's central-directory record gives its size and local header; its data follows
    // the 30-byte local header, the name and the extra field.
    let name = bytes.indexOf('/code/__torch__/');
    let central = -1;
    while (name >= 0 && central < 0) {
      const start = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), name);
      if (start >= 0 && start + 46 <= name && name < start + 46 + bytes.readUInt16LE(start + 28)) central = start;
      else name = bytes.indexOf('/code/__torch__/', name + 1);
    }
    expect(central).toBeGreaterThan(0);
    const size = bytes.readUInt32LE(central + 20);
    const header = bytes.readUInt32LE(central + 42);
    const data = header + 30 + bytes.readUInt16LE(header + 26) + bytes.readUInt16LE(header + 28);
    expect(size).toBeGreaterThan(8);
    bytes[data + Math.floor(size / 2)]! ^= 0x55;
    writeFileSync(file, bytes);
    await expect(loadModel(file, { maxSeqLen: 8 })).rejects.toMatchObject({
      code: 'TORCHSCRIPT_INVALID',
      message: expect.stringMatching(/is a corrupt zip archive: entry '[^']*code\/__torch__\/[^']*' (fails its CRC-32 check|does not inflate)/),
    });
  });

  it('NaN or +inf logits fail the generation naming the step, instead of being sampled as some id', async () => {
    const cases: [string, string, RegExp][] = [
      ['nan', 'x * float("nan")', /logits at step 0 \(the prompt's last position\) contain NaN \(token id 0\)/],
      ['inf', 'x + float("inf")', /logits at step 0 \(the prompt's last position\) contain \+inf/],
      ['ninf', 'x - float("inf")', /logits at step 0 \(the prompt's last position\) are all -inf/],
    ];
    for (const [name, expr, message] of cases) {
      const file = join(root, `${name}.pt`);
      torchScriptAddon().saveTorchScriptModule({
        source: `def forward(self, input_ids: Tensor) -> Tensor:\n    x = self.w.index_select(0, input_ids[0]).unsqueeze(0)\n    return ${expr}\n`,
        parameters: { w: { data: new Float32Array(32 * 8).fill(0.5), shape: [32, 8] } }, path: file,
      });
      const model = await loadModel(file, { maxSeqLen: 16, threads: 1 });
      try {
        await expect(model.generate([1, 2], { maxNewTokens: 4, temperature: 1, seed: 1 }).result)
          .rejects.toMatchObject({ code: 'MODEL_OUTPUT_INVALID', message: expect.stringMatching(message) });
      } finally {
        model.dispose();
      }
    }
  });

  it('a directory named *.pt, a forward with no logits and a forward that raises each get their own code', async () => {
    await mkdir(join(root, 'dir.pt'));
    await expect(loadModel(join(root, 'dir.pt'))).rejects.toMatchObject({ code: 'FILE_UNREADABLE', message: expect.stringMatching(/dir\.pt is not a regular file \(a directory\)/) });
    const w = { w: { data: new Float32Array(32 * 8).fill(0.5), shape: [32, 8] } };
    const select = 'def forward(self, input_ids: Tensor) -> Tensor:\n    x = self.w.index_select(0, input_ids[0]).unsqueeze(0)\n';
    const empty = join(root, 'no-logits.pt');
    torchScriptAddon().saveTorchScriptModule({ source: `${select}    return x[:, :, 0:0]\n`, parameters: w, path: empty });
    await expect(loadModel(empty, { maxSeqLen: 16 })).rejects.toMatchObject({ code: 'MODEL_OUTPUT_INVALID', message: expect.stringMatching(/vocabulary of 0/) });
    const raising = join(root, 'raising.pt');
    torchScriptAddon().saveTorchScriptModule({
      source: `${select}    assert int(input_ids.size(1)) < 2, "two tokens are too many"\n    return x\n`, parameters: w, path: raising,
    });
    const model = await loadModel(raising, { maxSeqLen: 16, threads: 1 });
    try {
      await expect(model.generate([1, 2], { maxNewTokens: 2 }).result)
        .rejects.toMatchObject({ code: 'MODEL_FORWARD_FAILED', message: expect.stringMatching(/the model's forward failed: [\s\S]*two tokens are too many/) });
    } finally {
      model.dispose();
    }
  });

  it('saveTorchScriptModule validates its arguments', () => {
    const addon = torchScriptAddon();
    const path = join(root, 'x.pt');
    const w = { data: new Float32Array(2), shape: [2] };
    expect(() => addon.saveTorchScriptModule({ source: '', parameters: {}, path })).toThrow(TypeError);
    expect(() => addon.saveTorchScriptModule({ source: 'def forward(self, x: Tensor) -> Tensor:\n    return x\n', parameters: { w: { data: new Float32Array(3), shape: [2] } }, path })).toThrow(RangeError);
    expect(() => addon.saveTorchScriptModule({ source: 'def forward(self, x: Tensor) -> Tensor:\n    return x\n', parameters: { 'a.b': w }, path })).toThrow(RangeError);
    expect(() => addon.saveTorchScriptModule({ source: 'def forward(self, x: Tensor) -> Tensor:\n    return x\n', parameters: { w: { data: [1, 2] as unknown as Float32Array, shape: [2] } }, path })).toThrow(TypeError);
    expect(thrown(() => addon.saveTorchScriptModule({ source: 'def forward(self, x: Tensor) -> Tensor:\n    return self.nope\n', parameters: { w }, path })))
      .toMatchObject({ code: 'TORCHSCRIPT_SOURCE_INVALID', message: expect.stringMatching(/nope/) });
    expect(thrown(() => addon.saveTorchScriptModule({ source: 'def forward(self, x: Tensor) -> Tensor:\n    return x\n', parameters: { w }, path: join(root, 'no', 'such', 'dir', 'x.pt') })))
      .toMatchObject({ code: 'FILE_UNWRITABLE' });
  });
});
