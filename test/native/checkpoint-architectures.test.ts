// Every supported architecture variant (GQA, tied/untied head, q/k/v bias, q/k norm, explicit
// head_dim, llama3/linear RoPE scaling) against an independent float64 TypeScript forward pass
// written from the Hugging Face definitions, through both CPU decode paths.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TensorToWrite } from '../../src/checkpoint/safetensors-writer.js';
import { loadModel } from '../../src/engine/index.js';
import { asBf16, configJson, tinyTensors, writeTinyCheckpoint, type TinyConfig } from './checkpoint-helpers.js';
import { SKIP_NATIVE } from './helpers/fixtures.js';


const base = { hidden: 16, layers: 2, heads: 2, kvHeads: 1, intermediate: 24, vocab: 32, maxPos: 64 } as const;
const VARIANTS: { label: string; cfg: TinyConfig; bf16Weights?: boolean; prompt?: number[] }[] = [
  { label: 'Llama GQA, untied, llama3 RoPE scaling', cfg: { ...base, architecture: 'LlamaForCausalLM', tie: false,
    extraConfig: { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } } } },
  { label: 'Llama MHA, tied, linear RoPE scaling', cfg: { ...base, architecture: 'LlamaForCausalLM', kvHeads: 2, tie: true,
    extraConfig: { rope_scaling: { type: 'linear', factor: 2 } } } },
  { label: 'Mistral', cfg: { ...base, architecture: 'MistralForCausalLM', tie: false, extraConfig: { sliding_window: 4096 } } },
  // A window shorter than the prompt: the prefill's band mask and the decode's window both matter.
  { label: 'Mistral, sliding window 3', cfg: { ...base, architecture: 'MistralForCausalLM', tie: false, extraConfig: { sliding_window: 3 } } },
  { label: 'Mistral, sliding window 3, MHA', cfg: { ...base, architecture: 'MistralForCausalLM', kvHeads: 2, tie: true, extraConfig: { sliding_window: 3 } } },
  // A 513-token prompt: the band-masked prefill runs in query blocks of 256, and the last
  // position (whose logits are compared) is the first row of the third block.
  { label: 'Mistral, sliding window 100, 513-token prompt', prompt: Array.from({ length: 513 }, (_, i) => (i * 7 + 3) % 32),
    cfg: { ...base, architecture: 'MistralForCausalLM', maxPos: 640, tie: false, extraConfig: { sliding_window: 100 } } },
  // Windows on some layers only (the other layer sees the whole prompt): from max_window_layers
  // on, or as layer_types lists them.
  { label: 'Qwen2, sliding window 3 from layer 1', cfg: { ...base, architecture: 'Qwen2ForCausalLM', tie: true,
    extraConfig: { use_sliding_window: true, sliding_window: 3, max_window_layers: 1 } } },
  { label: 'Qwen3, sliding window 3 on layer 0 by layer_types', cfg: { ...base, architecture: 'Qwen3ForCausalLM', tie: false,
    extraConfig: { use_sliding_window: true, sliding_window: 3, max_window_layers: 5, layer_types: ['sliding_attention', 'full_attention'] } } },
  { label: 'Qwen2, sliding window 100 from layer 1, 513-token prompt', prompt: Array.from({ length: 513 }, (_, i) => (i * 5 + 1) % 32),
    cfg: { ...base, architecture: 'Qwen2ForCausalLM', maxPos: 640, tie: false, extraConfig: { use_sliding_window: true, sliding_window: 100, max_window_layers: 1 } } },
  { label: 'Qwen2 (q/k/v bias)', cfg: { ...base, architecture: 'Qwen2ForCausalLM', tie: true, extraConfig: { rope_theta: 1000000 } } },
  { label: 'Qwen3 (q/k norm, head_dim 12)', cfg: { ...base, architecture: 'Qwen3ForCausalLM', headDim: 12, tie: false } },
  // Large enough that the CPU kernels split rows across both threads.
  { label: 'Llama hidden 256 (multi-threaded kernels)', cfg: { architecture: 'LlamaForCausalLM', hidden: 256, layers: 1, heads: 4, kvHeads: 2,
    intermediate: 704, vocab: 256, maxPos: 64, tie: false } },
  // BF16 checkpoint loaded for f32 compute: weights are widened on load.
  { label: 'Qwen2 with BF16-stored weights', bf16Weights: true, cfg: { ...base, architecture: 'Qwen2ForCausalLM', tie: false } },
];

// ---- float64 reference (HF LlamaForCausalLM / Qwen2 / Qwen3 semantics) ----------------------
type F64 = Float64Array<ArrayBufferLike>;
type W = Map<string, F64>;
const vec = (w: W, name: string) => w.get(name)!;

function matvec(m: Float64Array, x: Float64Array, rows: number, bias?: Float64Array): Float64Array {
  const cols = x.length;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = bias ? bias[r]! : 0;
    for (let c = 0; c < cols; c++) s += m[r * cols + c]! * x[c]!;
    out[r] = s;
  }
  return out;
}

function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

function invFreq(cfg: Record<string, any>, D: number): number[] {
  const theta = cfg.rope_theta ?? 10000;
  let f = Array.from({ length: D / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / D));
  const rs = cfg.rope_scaling;
  if (rs?.type === 'linear' || rs?.rope_type === 'linear') f = f.map((v) => v / rs.factor);
  if (rs?.rope_type === 'llama3') {
    const lowWl = rs.original_max_position_embeddings / rs.low_freq_factor;
    const highWl = rs.original_max_position_embeddings / rs.high_freq_factor;
    f = f.map((v) => {
      const wl = (2 * Math.PI) / v;
      if (wl < highWl) return v;
      if (wl > lowWl) return v / rs.factor;
      const smooth = (rs.original_max_position_embeddings / wl - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      return (1 - smooth) * (v / rs.factor) + smooth * v;
    });
  }
  return f;
}

/**
 * The sliding window of each layer, as transformers' configs define it: position i attends to
 * keys j with i - window < j <= i. Mistral: sliding_window on every layer. Qwen2/Qwen3: only
 * with use_sliding_window (sliding_window absent: 4096, null: none); the layers layer_types
 * calls "sliding_attention", or else those from max_window_layers (default 28) on.
 */
function layerWindows(architecture: string, cfg: Record<string, any>): (layer: number) => number {
  if (architecture === 'MistralForCausalLM') return () => (typeof cfg.sliding_window === 'number' ? cfg.sliding_window : Infinity);
  if (!cfg.use_sliding_window || cfg.sliding_window === null) return () => Infinity;
  const window = cfg.sliding_window ?? 4096; // transformers' default for Qwen2/Qwen3
  if (Array.isArray(cfg.layer_types)) return (l) => (cfg.layer_types[l] === 'sliding_attention' ? window : Infinity);
  const first = cfg.max_window_layers ?? 28;
  return (l) => (l >= first ? window : Infinity);
}

/** Logits after the last of `ids` (float64, whole sequence recomputed). */
function referenceLogits(c: TinyConfig, w: W, ids: number[]): Float64Array {
  const cfg = configJson(c);
  const H = c.hidden, D = c.headDim ?? H / c.heads, group = c.heads / c.kvHeads, eps = 1e-5;
  const windowOf = layerWindows(c.architecture, cfg);
  const freqs = invFreq(cfg, D);
  const rope = (v: Float64Array, pos: number) => {
    for (let i = 0; i < D / 2; i++) {
      const a = v[i]!, b = v[i + D / 2]!, cs = Math.cos(pos * freqs[i]!), sn = Math.sin(pos * freqs[i]!);
      v[i] = a * cs - b * sn;
      v[i + D / 2] = b * cs + a * sn;
    }
  };
  const emb = vec(w, 'model.embed_tokens.weight');
  let xs: F64[] = ids.map((id) => emb.slice(id * H, (id + 1) * H));
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    const window = windowOf(l);
    const ks: F64[][] = [], vs: F64[][] = [];
    const next: F64[] = [];
    const qs: F64[][] = [];
    xs.forEach((x, pos) => {
      const h = rmsNorm(x, vec(w, `${p}input_layernorm.weight`), eps);
      const q = matvec(vec(w, `${p}self_attn.q_proj.weight`), h, c.heads * D, w.get(`${p}self_attn.q_proj.bias`));
      const k = matvec(vec(w, `${p}self_attn.k_proj.weight`), h, c.kvHeads * D, w.get(`${p}self_attn.k_proj.bias`));
      const v = matvec(vec(w, `${p}self_attn.v_proj.weight`), h, c.kvHeads * D, w.get(`${p}self_attn.v_proj.bias`));
      const split = (t: Float64Array, n: number) => Array.from({ length: n }, (_, i) => t.slice(i * D, (i + 1) * D));
      let qh: F64[] = split(q, c.heads), kh: F64[] = split(k, c.kvHeads);
      if (w.has(`${p}self_attn.q_norm.weight`)) {
        qh = qh.map((t) => rmsNorm(t, vec(w, `${p}self_attn.q_norm.weight`), eps));
        kh = kh.map((t) => rmsNorm(t, vec(w, `${p}self_attn.k_norm.weight`), eps));
      }
      qh.forEach((t) => rope(t, pos));
      kh.forEach((t) => rope(t, pos));
      qs.push(qh); ks.push(kh); vs.push(split(v, c.kvHeads));
    });
    xs.forEach((x, pos) => {
      const att = new Float64Array(c.heads * D);
      for (let hd = 0; hd < c.heads; hd++) {
        const kv = Math.floor(hd / group);
        const first = Math.max(0, pos - window + 1);
        const scores = Array.from({ length: pos + 1 - first }, (_, i) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += qs[pos]![hd]![d]! * ks[first + i]![kv]![d]!;
          return s / Math.sqrt(D);
        });
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const tot = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < e.length; i++) for (let d = 0; d < D; d++) att[hd * D + d]! += (e[i]! / tot) * vs[first + i]![kv]![d]!;
      }
      const o = matvec(vec(w, `${p}self_attn.o_proj.weight`), att, H);
      const x1 = x.map((v, i) => v + o[i]!);
      const h = rmsNorm(x1, vec(w, `${p}post_attention_layernorm.weight`), eps);
      const g = matvec(vec(w, `${p}mlp.gate_proj.weight`), h, c.intermediate);
      const u = matvec(vec(w, `${p}mlp.up_proj.weight`), h, c.intermediate);
      const m = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const down = matvec(vec(w, `${p}mlp.down_proj.weight`), m, H);
      next.push(x1.map((v, i) => v + down[i]!));
    });
    xs = next;
  }
  const last = rmsNorm(xs[xs.length - 1]!, vec(w, 'model.norm.weight'), eps);
  return matvec(c.tie ? emb : vec(w, 'lm_head.weight'), last, c.vocab);
}

function argmaxMargin(v: Float64Array): { id: number; margin: number } {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  let second = -Infinity;
  v.forEach((x, i) => { if (i !== best && x > second) second = x; });
  return { id: best, margin: v[best]! - second };
}

// ---- tests ----------------------------------------------------------------------------------
let root: string;
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'aeb-arch-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe.skipIf(SKIP_NATIVE).each(VARIANTS)('$label', ({ cfg, bf16Weights, prompt: variantPrompt }) => {
  let dir: string;
  let weights: W;
  beforeAll(async () => {
    dir = join(root, cfg.architecture + Math.random().toString(36).slice(2));
    await mkdir(dir);
    let tensors: TensorToWrite[] = tinyTensors(cfg);
    if (bf16Weights) {
      const { stored, rounded } = asBf16(tensors);
      await writeTinyCheckpoint(dir, cfg, stored);
      tensors = rounded;
    } else {
      await writeTinyCheckpoint(dir, cfg, tensors);
    }
    weights = new Map(tensors.map((t) => [t.name, Float64Array.from(t.data as Float32Array)]));
  });

  it.each(['kernels', 'torch'])('matches the float64 reference (%s decode)', async (path) => {
    if (path === 'torch') process.env.AEB_CPU_DECODE = 'torch';
    const model = await loadModel(dir, { threads: 2 }).finally(() => { delete process.env.AEB_CPU_DECODE; });
    try {
      expect(model.info.architecture).toBe(cfg.architecture);
      expect(model.info.headDim).toBe(cfg.headDim ?? cfg.hidden / cfg.heads);
      const prompt = variantPrompt ?? [1, 7, 3, 30, 12];
      const r = await model.generate(prompt, { maxNewTokens: 12, stopIds: [], returnFirstLogits: true }).result;
      const first = referenceLogits(cfg, weights, prompt);
      let maxErr = 0;
      first.forEach((v, i) => { maxErr = Math.max(maxErr, Math.abs(v - r.firstLogits![i]!)); });
      expect(maxErr).toBeLessThan(1e-4);
      // Greedy continuation, compared while the reference's choice is not a near-tie.
      const seq = [...prompt];
      for (const id of r.ids) {
        const { id: want, margin } = argmaxMargin(referenceLogits(cfg, weights, seq));
        if (margin < 1e-4) break;
        expect(id).toBe(want);
        seq.push(id);
      }
      expect(seq.length).toBeGreaterThan(prompt.length + 3);
    } finally {
      model.dispose();
    }
  });
});
