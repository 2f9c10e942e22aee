// llama2.c "legacy" checkpoint (.bin) → Hugging Face Llama directory (config.json,
// generation_config.json, model.safetensors).
//
// llama2.c rotates adjacent pairs (x[2i], x[2i+1]) in RoPE; HF Llama rotates halves
// (x[i], x[i + d/2]). The q/k projection rows are therefore permuted per head so that HF's
// rotate-half convention computes the same function: new row h*d + p*d/2 + i = old row h*d + 2i + p.
import { open, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';

import { writeSafetensors, type TensorToWrite } from '../checkpoint/safetensors-writer.js';
import { makeDirectory } from '../util/make-directory.js';

export class Llama2cFormatError extends Error {
  readonly code = 'LLAMA2C_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'Llama2cFormatError';
  }
}

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

export interface ConvertResult {
  header: Llama2cHeader;
  parameters: number;
  files: string[];
}

const HEADER_BYTES = 7 * 4;
/** "ak42" read as a little-endian uint32: the magic of llama2.c's versioned exports. */
const AK42_MAGIC = 0x616b3432;

// Generous bounds that still reject garbage headers before any large allocation.
const MAX_DIM = 1 << 16;
const MAX_VOCAB = 1 << 22;
const MAX_LAYERS = 1024;
const MAX_SEQ = 1 << 22;

export function parseLlama2cHeader(buf: Buffer, path: string): Llama2cHeader {
  if (buf.length < HEADER_BYTES) throw new Llama2cFormatError(`${path}: file is ${buf.length} bytes, shorter than the 28-byte llama2.c header`);
  // llama2.c's export.py --version 1/2 files start with the magic "ak42" and a version number.
  if (buf.readUInt32LE(0) === AK42_MAGIC) {
    throw new Llama2cFormatError(`${path}: a llama2.c export of version ${buf.readInt32LE(4)} (the "ak42" header): only the legacy format ` +
      '(version 0, as run.c reads it) is supported; export it again with `python export.py --version 0`');
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from({ length: 7 }, (_, i) => buf.readInt32LE(i * 4)) as [
    number, number, number, number, number, number, number,
  ];
  const bad = (what: string): never => {
    throw new Llama2cFormatError(`${path}: invalid llama2.c header (dim=${dim} hidden_dim=${hiddenDim} n_layers=${nLayers} n_heads=${nHeads} n_kv_heads=${nKvHeads} vocab_size=${rawVocab} seq_len=${seqLen}): ${what}`);
  };
  const inRange = (v: number, max: number) => v > 0 && v <= max;
  if (!inRange(dim, MAX_DIM)) bad(`dim must be in 1..${MAX_DIM}`);
  if (!inRange(hiddenDim, 8 * MAX_DIM)) bad(`hidden_dim must be in 1..${8 * MAX_DIM}`);
  if (!inRange(nLayers, MAX_LAYERS)) bad(`n_layers must be in 1..${MAX_LAYERS}`);
  if (!inRange(nHeads, dim)) bad('n_heads must be in 1..dim');
  if (!inRange(nKvHeads, nHeads)) bad('n_kv_heads must be in 1..n_heads');
  if (dim % nHeads !== 0) bad('dim must be divisible by n_heads');
  if (nHeads % nKvHeads !== 0) bad('n_heads must be divisible by n_kv_heads');
  if ((dim / nHeads) % 2 !== 0) bad('head size (dim / n_heads) must be even');
  if (rawVocab === 0 || Math.abs(rawVocab) > MAX_VOCAB) bad(`|vocab_size| must be in 1..${MAX_VOCAB}`);
  if (!inRange(seqLen, MAX_SEQ)) bad(`seq_len must be in 1..${MAX_SEQ}`);
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(rawVocab), seqLen, sharedClassifier: rawVocab > 0 };
}

interface Section {
  name: string;
  /** Shape of the whole section, stored row-major as (layer?, out, in). */
  count: number;
}

function layout(h: Llama2cHeader): Section[] {
  const headSize = h.dim / h.nHeads;
  const kvDim = headSize * h.nKvHeads;
  const L = h.nLayers;
  const sections: Section[] = [
    { name: 'token_embedding', count: h.vocabSize * h.dim },
    { name: 'rms_att', count: L * h.dim },
    { name: 'wq', count: L * h.dim * h.dim },
    { name: 'wk', count: L * kvDim * h.dim },
    { name: 'wv', count: L * kvDim * h.dim },
    { name: 'wo', count: L * h.dim * h.dim },
    { name: 'rms_ffn', count: L * h.dim },
    { name: 'w1', count: L * h.hiddenDim * h.dim },
    { name: 'w2', count: L * h.dim * h.hiddenDim },
    { name: 'w3', count: L * h.hiddenDim * h.dim },
    { name: 'rms_final', count: h.dim },
    { name: 'freq_cis', count: h.seqLen * headSize }, // real + imag halves; unused
  ];
  if (!h.sharedClassifier) sections.push({ name: 'wcls', count: h.vocabSize * h.dim });
  return sections;
}

/** Permutes the rows of a (heads * headSize, cols) projection from pair-rotation to half-rotation order. */
export function permuteRotaryRows(w: Float32Array, heads: number, headSize: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headSize / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let p = 0; p < 2; p++) {
        const src = (h * headSize + 2 * i + p) * cols;
        const dst = (h * headSize + p * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

async function readFloats(file: FileHandle, offset: number, count: number): Promise<Float32Array> {
  const out = new Float32Array(count);
  const bytes = new Uint8Array(out.buffer);
  let done = 0;
  while (done < bytes.length) {
    const { bytesRead } = await file.read(bytes, done, Math.min(bytes.length - done, 1 << 26), offset + done);
    if (bytesRead === 0) throw new Llama2cFormatError('unexpected end of file');
    done += bytesRead;
  }
  return out;
}

export async function convertLlama2c(inPath: string, outDir: string): Promise<ConvertResult> {
  let file: FileHandle;
  try {
    file = await open(inPath, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Llama2cFormatError(`${inPath}: cannot open (${e.code ?? e.message})`);
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw new Llama2cFormatError(`${inPath}: not a regular file${stats.isDirectory() ? ' (a directory)' : ''}`);
    const size = stats.size;
    const headerBuf = Buffer.alloc(HEADER_BYTES);
    await file.read(headerBuf, 0, Math.min(HEADER_BYTES, size), 0);
    const header = parseLlama2cHeader(headerBuf.subarray(0, Math.min(HEADER_BYTES, size)), inPath);
    const sections = layout(header);
    const expected = HEADER_BYTES + 4 * sections.reduce((a, s) => a + s.count, 0);
    if (size !== expected) {
      throw new Llama2cFormatError(
        `${inPath}: file is ${size} bytes but a llama2.c checkpoint with this header (dim=${header.dim}, n_layers=${header.nLayers}, vocab=${header.vocabSize}, ` +
          `${header.sharedClassifier ? 'shared' : 'separate'} classifier) must be exactly ${expected} bytes`,
      );
    }
    // The conversion holds every weight in memory once (then streams it out).
    if (expected > totalmem() * 0.8) {
      throw new Llama2cFormatError(
        `${inPath}: converting needs its ${(expected / 2 ** 30).toFixed(1)} GiB in memory; this machine has ${(totalmem() / 2 ** 30).toFixed(1)} GiB`);
    }
    const data = new Map<string, Float32Array>();
    let offset = HEADER_BYTES;
    for (const s of sections) {
      if (s.name !== 'freq_cis') data.set(s.name, await readFloats(file, offset, s.count));
      offset += 4 * s.count;
    }
    const tensors = toHfTensors(header, data);
    await makeDirectory(outDir);
    const files = ['config.json', 'generation_config.json', 'model.safetensors'];
    // Weights first: a failed conversion leaves no config.json that would make OUT look loadable.
    await writeSafetensors(join(outDir, 'model.safetensors'), tensors, { format: 'pt', source: 'llama2.c' });
    await writeFile(join(outDir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2) + '\n');
    await writeFile(join(outDir, 'config.json'), JSON.stringify(hfConfig(header), null, 2) + '\n');
    const parameters = tensors.reduce((a, t) => a + t.data.length, 0);
    return { header, parameters, files: files.map((f) => join(outDir, f)) };
  } finally {
    await file.close();
  }
}

export function hfConfig(h: Llama2cHeader): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: h.dim,
    intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers,
    num_attention_heads: h.nHeads,
    num_key_value_heads: h.nKvHeads,
    vocab_size: h.vocabSize,
    max_position_embeddings: h.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    hidden_act: 'silu',
    tie_word_embeddings: h.sharedClassifier,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}

function toHfTensors(h: Llama2cHeader, data: Map<string, Float32Array>): TensorToWrite[] {
  const headSize = h.dim / h.nHeads;
  const kvDim = headSize * h.nKvHeads;
  const get = (name: string) => data.get(name)!;
  const f32 = (name: string, shape: number[], values: Float32Array): TensorToWrite => ({ name, dtype: 'F32', shape, data: values });
  const slice = (name: string, layer: number, per: number) => get(name).subarray(layer * per, (layer + 1) * per);
  const tensors: TensorToWrite[] = [f32('model.embed_tokens.weight', [h.vocabSize, h.dim], get('token_embedding'))];
  for (let l = 0; l < h.nLayers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      f32(`${p}input_layernorm.weight`, [h.dim], slice('rms_att', l, h.dim)),
      f32(`${p}self_attn.q_proj.weight`, [h.dim, h.dim], permuteRotaryRows(slice('wq', l, h.dim * h.dim), h.nHeads, headSize, h.dim)),
      f32(`${p}self_attn.k_proj.weight`, [kvDim, h.dim], permuteRotaryRows(slice('wk', l, kvDim * h.dim), h.nKvHeads, headSize, h.dim)),
      f32(`${p}self_attn.v_proj.weight`, [kvDim, h.dim], slice('wv', l, kvDim * h.dim)),
      f32(`${p}self_attn.o_proj.weight`, [h.dim, h.dim], slice('wo', l, h.dim * h.dim)),
      f32(`${p}post_attention_layernorm.weight`, [h.dim], slice('rms_ffn', l, h.dim)),
      f32(`${p}mlp.gate_proj.weight`, [h.hiddenDim, h.dim], slice('w1', l, h.hiddenDim * h.dim)),
      f32(`${p}mlp.down_proj.weight`, [h.dim, h.hiddenDim], slice('w2', l, h.dim * h.hiddenDim)),
      f32(`${p}mlp.up_proj.weight`, [h.hiddenDim, h.dim], slice('w3', l, h.hiddenDim * h.dim)),
    );
  }
  tensors.push(f32('model.norm.weight', [h.dim], get('rms_final')));
  if (!h.sharedClassifier) tensors.push(f32('lm_head.weight', [h.vocabSize, h.dim], get('wcls')));
  return tensors;
}
