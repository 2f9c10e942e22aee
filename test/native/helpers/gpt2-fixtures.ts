// Small random-weight GPT-2 checkpoints (HF layout: config.json + model.safetensors with
// Conv1D weights stored (in, out)) and an independent reference forward pass in plain
// TypeScript (f64), for the native GPT-2 tests.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { writeSafetensors, type TensorToWrite } from '../../../src/checkpoint/safetensors-writer.js';

export interface Gpt2Spec {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  positions: number;
  inner: number;
  eps: number;
  eos: number;
  seed: number;
}

export const GPT2_TINY: Gpt2Spec = { vocab: 64, hidden: 32, layers: 2, heads: 4, positions: 48, inner: 80, eps: 1e-5, eos: 0, seed: 7 };

/** Deterministic xorshift32 values in offset ± scale. */
function values(n: number, seed: number, scale: number, offset = 0): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = offset + (s / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

/** Tensors by their name without the "transformer." prefix, HF shapes. */
export function gpt2Weights(s: Gpt2Spec): Map<string, { shape: number[]; data: Float32Array }> {
  const E = s.hidden, I = s.inner;
  const w = new Map<string, { shape: number[]; data: Float32Array }>();
  let seed = s.seed * 1000;
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    w.set(name, { shape, data: values(shape.reduce((a, b) => a * b, 1), seed++, scale, offset) });
  };
  add('wte.weight', [s.vocab, E], 1);
  add('wpe.weight', [s.positions, E], 0.5);
  for (let l = 0; l < s.layers; l++) {
    const p = `h.${l}.`;
    add(`${p}ln_1.weight`, [E], 0.2, 1);
    add(`${p}ln_1.bias`, [E], 0.1);
    add(`${p}attn.c_attn.weight`, [E, 3 * E], 0.35);
    add(`${p}attn.c_attn.bias`, [3 * E], 0.1);
    add(`${p}attn.c_proj.weight`, [E, E], 0.3);
    add(`${p}attn.c_proj.bias`, [E], 0.1);
    add(`${p}ln_2.weight`, [E], 0.2, 1);
    add(`${p}ln_2.bias`, [E], 0.1);
    add(`${p}mlp.c_fc.weight`, [E, I], 0.3);
    add(`${p}mlp.c_fc.bias`, [I], 0.1);
    add(`${p}mlp.c_proj.weight`, [I, E], 0.3);
    add(`${p}mlp.c_proj.bias`, [E], 0.1);
  }
  add('ln_f.weight', [E], 0.2, 1);
  add('ln_f.bias', [E], 0.1);
  return w;
}

export function gpt2Config(s: Gpt2Spec): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: s.vocab, n_embd: s.hidden, n_layer: s.layers,
    n_head: s.heads, n_positions: s.positions, n_ctx: s.positions, n_inner: s.inner, layer_norm_epsilon: s.eps,
    activation_function: 'gelu_new', bos_token_id: s.eos, eos_token_id: s.eos, tie_word_embeddings: true,
  };
}

export interface WriteGpt2Options {
  /** Store names with HF's "transformer." prefix (default true). */
  prefix?: boolean;
  /** Edit the tensor list (drop / reshape) before writing. */
  edit?: (tensors: TensorToWrite[]) => TensorToWrite[];
  config?: Record<string, unknown>;
}

export async function writeGpt2Checkpoint(dir: string, s: Gpt2Spec, opts: WriteGpt2Options = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const prefix = opts.prefix === false ? '' : 'transformer.';
  let tensors: TensorToWrite[] = [...gpt2Weights(s)].map(([name, t]) => ({ name: prefix + name, dtype: 'F32', shape: t.shape, data: t.data }));
  if (opts.edit) tensors = opts.edit(tensors);
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...gpt2Config(s), ...opts.config }));
  await writeSafetensors(join(dir, 'model.safetensors'), tensors);
}

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * w[i]! + b[i]!);
}

/** y = x @ W + b with W stored (in, out) row-major (HF Conv1D). */
function conv1d(x: Float64Array, w: Float32Array, b: Float32Array): Float64Array {
  const out = b.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) y[o] = b[o]!;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    for (let o = 0; o < out; o++) y[o]! += xi * w[i * out + o]!;
  }
  return y;
}

const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Next-token logits after `ids` (full causal forward, f64). */
export function gpt2ReferenceLogits(s: Gpt2Spec, ids: readonly number[]): Float64Array {
  const w = gpt2Weights(s);
  const t = (name: string) => w.get(name)!.data;
  const E = s.hidden, H = s.heads, D = E / H, T = ids.length;
  let xs = ids.map((id, pos) => {
    const x = new Float64Array(E);
    for (let i = 0; i < E; i++) x[i] = t('wte.weight')[id * E + i]! + t('wpe.weight')[pos * E + i]!;
    return x;
  });
  for (let l = 0; l < s.layers; l++) {
    const p = `h.${l}.`;
    const qkv = xs.map((x) => conv1d(layerNorm(x, t(`${p}ln_1.weight`), t(`${p}ln_1.bias`), s.eps), t(`${p}attn.c_attn.weight`), t(`${p}attn.c_attn.bias`)));
    xs = xs.map((x, i) => {
      const o = new Float64Array(E);
      for (let h = 0; h < H; h++) {
        const scores = Array.from({ length: i + 1 }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qkv[i]![h * D + d]! * qkv[j]![E + h * D + d]!;
          return dot / Math.sqrt(D);
        });
        const max = Math.max(...scores);
        const exps = scores.map((v) => Math.exp(v - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++)
          for (let d = 0; d < D; d++) o[h * D + d]! += (exps[j]! / total) * qkv[j]![2 * E + h * D + d]!;
      }
      const attn = conv1d(o, t(`${p}attn.c_proj.weight`), t(`${p}attn.c_proj.bias`));
      const x1 = x.map((v, k) => v + attn[k]!);
      const fc = conv1d(layerNorm(x1, t(`${p}ln_2.weight`), t(`${p}ln_2.bias`), s.eps), t(`${p}mlp.c_fc.weight`), t(`${p}mlp.c_fc.bias`)).map(geluTanh);
      const mlp = conv1d(fc, t(`${p}mlp.c_proj.weight`), t(`${p}mlp.c_proj.bias`));
      return x1.map((v, k) => v + mlp[k]!);
    });
  }
  const last = layerNorm(xs[T - 1]!, t('ln_f.weight'), t('ln_f.bias'), s.eps);
  const logits = new Float64Array(s.vocab);
  for (let v = 0; v < s.vocab; v++) {
    let dot = 0;
    for (let i = 0; i < E; i++) dot += last[i]! * t('wte.weight')[v * E + i]!;
    logits[v] = dot;
  }
  return logits;
}

/** Greedy continuation by full recompute, with the gap between the top two logits of each step. */
export function gpt2ReferenceGreedy(s: Gpt2Spec, prompt: readonly number[], steps: number): { ids: number[]; minGap: number } {
  const ctx = [...prompt];
  const ids: number[] = [];
  let minGap = Infinity;
  for (let k = 0; k < steps; k++) {
    const logits = gpt2ReferenceLogits(s, ctx);
    const order = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!);
    minGap = Math.min(minGap, logits[order[0]!]! - logits[order[1]!]!);
    ids.push(order[0]!);
    ctx.push(order[0]!);
  }
  return { ids, minGap };
}

export function gpt2ParameterCount(s: Gpt2Spec): number {
  let n = 0;
  for (const t of gpt2Weights(s).values()) n += t.data.length;
  return n;
}
