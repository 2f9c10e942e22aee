// Tiny random-weight Hugging Face checkpoints for the native checkpoint tests.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { f32ToBf16Bits, writeSafetensors, type TensorToWrite } from '../../src/checkpoint/safetensors-writer.js';

export interface TinyConfig {
  architecture: 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM';
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim?: number;
  intermediate: number;
  vocab: number;
  maxPos: number;
  tie: boolean;
  extraConfig?: Record<string, unknown>;
}

export const TINY_LLAMA: TinyConfig = {
  architecture: 'LlamaForCausalLM', hidden: 16, layers: 1, heads: 2, kvHeads: 1, intermediate: 24, vocab: 32, maxPos: 64, tie: false,
};

/** Deterministic xorshift values in [-scale, scale). */
function values(n: number, seed: number, scale = 0.3): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

export function configJson(c: TinyConfig): Record<string, unknown> {
  return {
    architectures: [c.architecture],
    hidden_size: c.hidden, num_hidden_layers: c.layers, num_attention_heads: c.heads, num_key_value_heads: c.kvHeads,
    intermediate_size: c.intermediate, vocab_size: c.vocab, max_position_embeddings: c.maxPos, rms_norm_eps: 1e-5,
    rope_theta: 10000, tie_word_embeddings: c.tie, hidden_act: 'silu', eos_token_id: 2,
    ...(c.headDim !== undefined ? { head_dim: c.headDim } : {}),
    ...c.extraConfig,
  };
}

export function tinyTensors(c: TinyConfig): TensorToWrite[] {
  const D = c.headDim ?? c.hidden / c.heads;
  const q = c.heads * D, kv = c.kvHeads * D;
  let seed = 1;
  const t = (name: string, shape: number[], scale = 0.3, offset = 0): TensorToWrite => {
    const data = values(shape.reduce((a, b) => a * b, 1), seed++, scale);
    if (offset !== 0) for (let i = 0; i < data.length; i++) data[i]! += offset;
    return { name, dtype: 'F32', shape, data };
  };
  const out: TensorToWrite[] = [t('model.embed_tokens.weight', [c.vocab, c.hidden], 1)];
  const qkvBias = c.architecture === 'Qwen2ForCausalLM';
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    out.push(t(`${p}input_layernorm.weight`, [c.hidden], 0.1, 1), t(`${p}self_attn.q_proj.weight`, [q, c.hidden]),
      t(`${p}self_attn.k_proj.weight`, [kv, c.hidden]), t(`${p}self_attn.v_proj.weight`, [kv, c.hidden]),
      t(`${p}self_attn.o_proj.weight`, [c.hidden, q]));
    if (qkvBias) out.push(t(`${p}self_attn.q_proj.bias`, [q]), t(`${p}self_attn.k_proj.bias`, [kv]), t(`${p}self_attn.v_proj.bias`, [kv]));
    if (c.architecture === 'Qwen3ForCausalLM') out.push(t(`${p}self_attn.q_norm.weight`, [D], 0.1, 1), t(`${p}self_attn.k_norm.weight`, [D], 0.1, 1));
    out.push(t(`${p}post_attention_layernorm.weight`, [c.hidden], 0.1, 1), t(`${p}mlp.gate_proj.weight`, [c.intermediate, c.hidden]),
      t(`${p}mlp.up_proj.weight`, [c.intermediate, c.hidden]), t(`${p}mlp.down_proj.weight`, [c.hidden, c.intermediate]));
  }
  out.push(t('model.norm.weight', [c.hidden], 0.1, 1));
  if (!c.tie) out.push(t('lm_head.weight', [c.vocab, c.hidden]));
  return out;
}

export async function writeTinyCheckpoint(dir: string, c: TinyConfig = TINY_LLAMA, tensors = tinyTensors(c)): Promise<void> {
  await writeFile(join(dir, 'config.json'), JSON.stringify(configJson(c)));
  await writeSafetensors(join(dir, 'model.safetensors'), tensors);
}

/** Splits a safetensors buffer into its parsed header and data section. */
export function splitSafetensors(buf: Buffer): { header: Record<string, any>; data: Buffer } {
  const len = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + len).toString('utf8')), data: buf.subarray(8 + len) };
}

/** Assembles a safetensors file from an arbitrary header text (not validated) and data. */
export function joinSafetensors(headerText: string, data: Buffer): Buffer {
  const json = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

/** The same tensors stored as BF16, and the f32 values they round to (for references). */
export function asBf16(tensors: TensorToWrite[]): { stored: TensorToWrite[]; rounded: TensorToWrite[] } {
  const stored = tensors.map((t) => ({ ...t, dtype: 'BF16' as const, data: f32ToBf16Bits(t.data as Float32Array) }));
  const rounded = stored.map((t) => {
    const bits = new Uint32Array(t.data.length);
    for (let i = 0; i < bits.length; i++) bits[i] = (t.data as Uint16Array)[i]! << 16;
    return { ...t, dtype: 'F32' as const, data: new Float32Array(bits.buffer) };
  });
  return { stored, rounded };
}
