// Seeded random-weight Llama checkpoints (HF layout: config.json, generation_config.json,
// model.safetensors, f32) for tests and benchmarks where the shape matters, not the output.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../checkpoint/safetensors-writer.js';
import { hfConfig } from '../convert/llama2c.js';
import { seededRng } from '../load/random.js';
import { makeDirectory } from '../util/make-directory.js';

export interface SyntheticLlamaSpec {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  seed: number;
}

/** ~125M parameters (≈ 100M without the embedding), the shape of docs/performance.md. */
export const LLAMA_100M: SyntheticLlamaSpec = {
  hidden: 768,
  layers: 12,
  heads: 12,
  kvHeads: 12,
  intermediate: 2048,
  vocab: 32000,
  maxPositions: 2048,
  seed: 1234,
};

/** A few-hundred-KB model: fast to load and run in native tests. */
export const LLAMA_TINY: SyntheticLlamaSpec = {
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 128,
  vocab: 256,
  maxPositions: 512,
  seed: 7,
};

export function syntheticParameterCount(s: SyntheticLlamaSpec): number {
  const head = s.hidden / s.heads;
  const kv = head * s.kvHeads;
  const perLayer = 2 * s.hidden + 2 * s.hidden * s.hidden + 2 * kv * s.hidden + 3 * s.hidden * s.intermediate;
  return 2 * s.vocab * s.hidden + s.layers * perLayer + s.hidden;
}

/** Writes the checkpoint into `dir` (created). Weights ~ U(−1/√in, 1/√in); norms = 1. */
export async function writeSyntheticLlama(dir: string, s: SyntheticLlamaSpec): Promise<void> {
  if (s.hidden % s.heads !== 0 || s.heads % s.kvHeads !== 0) {
    throw new RangeError(`synthetic llama: hidden (${s.hidden}) must divide by heads (${s.heads}), heads by kvHeads (${s.kvHeads})`);
  }
  const next = seededRng(s.seed);
  const head = s.hidden / s.heads;
  const kv = head * s.kvHeads;
  const matrix = (name: string, rows: number, cols: number): TensorToWrite => {
    const data = new Float32Array(rows * cols);
    const scale = 2 / Math.sqrt(cols);
    for (let i = 0; i < data.length; i++) data[i] = (next() - 0.5) * scale;
    return { name, dtype: 'F32', shape: [rows, cols], data };
  };
  const ones = (name: string): TensorToWrite => ({ name, dtype: 'F32', shape: [s.hidden], data: new Float32Array(s.hidden).fill(1) });
  const tensors: TensorToWrite[] = [matrix('model.embed_tokens.weight', s.vocab, s.hidden)];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      ones(`${p}input_layernorm.weight`),
      matrix(`${p}self_attn.q_proj.weight`, s.hidden, s.hidden),
      matrix(`${p}self_attn.k_proj.weight`, kv, s.hidden),
      matrix(`${p}self_attn.v_proj.weight`, kv, s.hidden),
      matrix(`${p}self_attn.o_proj.weight`, s.hidden, s.hidden),
      ones(`${p}post_attention_layernorm.weight`),
      matrix(`${p}mlp.gate_proj.weight`, s.intermediate, s.hidden),
      matrix(`${p}mlp.up_proj.weight`, s.intermediate, s.hidden),
      matrix(`${p}mlp.down_proj.weight`, s.hidden, s.intermediate),
    );
  }
  tensors.push(ones('model.norm.weight'), matrix('lm_head.weight', s.vocab, s.hidden));
  await makeDirectory(dir);
  const config = hfConfig({
    dim: s.hidden,
    hiddenDim: s.intermediate,
    nLayers: s.layers,
    nHeads: s.heads,
    nKvHeads: s.kvHeads,
    vocabSize: s.vocab,
    seqLen: s.maxPositions,
    sharedClassifier: false,
  });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, 'generation_config.json'), `${JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2)}\n`);
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt', source: 'aeb synthetic', seed: String(s.seed) });
}
