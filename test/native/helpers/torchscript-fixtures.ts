// TorchScript fixtures for the native tests: the stories260K Llama (converted to the HF layout
// by convertLlama2c) re-expressed as TorchScript source in the two export shapes the engine
// supports, saved with the addon's saveTorchScriptModule (no Python needed).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadAddon, type NativeAddon } from '../../../src/native/index.js';
import { splitSafetensors } from '../checkpoint-helpers.js';

export interface TorchScriptParameter {
  data: Float32Array;
  shape: number[];
}

export interface SaveTorchScriptArgs {
  source: string;
  parameters: Record<string, TorchScriptParameter>;
  attributes?: Record<string, number | number[]>;
  path: string;
}

/** The addon surface these tests need beyond src/native/addon.ts (native/binding/torchscript_binding.cpp). */
export type TorchScriptAddon = NativeAddon & { saveTorchScriptModule(args: SaveTorchScriptArgs): void };

export function torchScriptAddon(): TorchScriptAddon {
  const addon = loadAddon() as TorchScriptAddon;
  if (typeof addon.saveTorchScriptModule !== 'function') {
    throw new Error('the addon has no saveTorchScriptModule: RegisterTorchScript is not wired into native/binding/addon.cpp');
  }
  return addon;
}

/** Every F32 tensor of a safetensors file, by name. */
export function readF32Tensors(file: string): Map<string, TorchScriptParameter> {
  const { header, data } = splitSafetensors(readFileSync(file));
  const out = new Map<string, TorchScriptParameter>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (dtype !== 'F32') throw new Error(`${file}: tensor ${name} is ${dtype}, expected F32`);
    const bytes = data.subarray(begin, end);
    // Copy into an aligned buffer (the data section need not be 4-byte aligned in the Buffer pool).
    const values = new Float32Array(bytes.length / 4);
    new Uint8Array(values.buffer).set(bytes);
    out.set(name, { data: values, shape });
  }
  return out;
}

export interface LlamaShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  rmsEps: number;
  ropeTheta: number;
}

export function llamaShapeFromConfig(dir: string): LlamaShape {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  return {
    hidden: c.hidden_size!, layers: c.num_hidden_layers!, heads: c.num_attention_heads!,
    kvHeads: c.num_key_value_heads ?? c.num_attention_heads!, intermediate: c.intermediate_size!, vocab: c.vocab_size!,
    maxPositions: c.max_position_embeddings!, rmsEps: c.rms_norm_eps ?? 1e-6, ropeTheta: c.rope_theta ?? 10000,
  };
}

/** Per-layer HF tensors stacked into one [layers, ...] parameter (TorchScript indexes it by layer). */
function stack(tensors: Map<string, TorchScriptParameter>, layers: number, suffix: string): TorchScriptParameter {
  const parts = Array.from({ length: layers }, (_, l) => {
    const t = tensors.get(`model.layers.${l}.${suffix}`);
    if (!t) throw new Error(`missing tensor model.layers.${l}.${suffix}`);
    return t;
  });
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let offset = 0;
  for (const p of parts) {
    data.set(p.data, offset);
    offset += p.data.length;
  }
  return { data, shape: [layers, ...parts[0]!.shape] };
}

/** HF rotate-half RoPE tables [maxPositions, headDim] (both halves repeated), from f64 angles. */
function ropeTables(s: LlamaShape): { cos: TorchScriptParameter; sin: TorchScriptParameter } {
  const D = s.hidden / s.heads;
  const half = D / 2;
  const cos = new Float32Array(s.maxPositions * D);
  const sin = new Float32Array(s.maxPositions * D);
  for (let p = 0; p < s.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / s.ropeTheta ** ((2 * i) / D);
      for (const j of [i, i + half]) {
        cos[p * D + j] = Math.cos(angle);
        sin[p * D + j] = Math.sin(angle);
      }
    }
  }
  return { cos: { data: cos, shape: [s.maxPositions, D] }, sin: { data: sin, shape: [s.maxPositions, D] } };
}

/** TorchScript parameters of a tied-embedding HF Llama checkpoint directory (model.safetensors). */
export function llamaParameters(dir: string, s: LlamaShape): Record<string, TorchScriptParameter> {
  const t = readF32Tensors(join(dir, 'model.safetensors'));
  const get = (name: string) => {
    const v = t.get(name);
    if (!v) throw new Error(`missing tensor ${name}`);
    return v;
  };
  const { cos, sin } = ropeTables(s);
  return {
    embed: get('model.embed_tokens.weight'),
    norm: get('model.norm.weight'),
    in_norm: stack(t, s.layers, 'input_layernorm.weight'),
    post_norm: stack(t, s.layers, 'post_attention_layernorm.weight'),
    wq: stack(t, s.layers, 'self_attn.q_proj.weight'),
    wk: stack(t, s.layers, 'self_attn.k_proj.weight'),
    wv: stack(t, s.layers, 'self_attn.v_proj.weight'),
    wo: stack(t, s.layers, 'self_attn.o_proj.weight'),
    w_gate: stack(t, s.layers, 'mlp.gate_proj.weight'),
    w_up: stack(t, s.layers, 'mlp.up_proj.weight'),
    w_down: stack(t, s.layers, 'mlp.down_proj.weight'),
    rope_cos: cos,
    rope_sin: sin,
  };
}

export type LlamaExport = 'full-recompute' | 'kv-optional' | 'kv-list';

const CACHE = 'List[Tuple[Tensor, Tensor]]';

/**
 * TorchScript source of the Llama forward pass. `run` handles any number of cached positions
 * (the causal mask is offset by them); each export shape wraps it in its own `forward`.
 */
export function llamaSource(s: LlamaShape, shape: LlamaExport): string {
  const D = s.hidden / s.heads;
  const common = `
def rms(self, x: Tensor, w: Tensor) -> Tensor:
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + ${s.rmsEps}))

def rotate(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    h = x.size(-1) // 2
    return x * cos + torch.cat([-x.narrow(-1, h, h), x.narrow(-1, 0, h)], -1) * sin

def run(self, input_ids: Tensor, past: ${CACHE}) -> Tuple[Tensor, ${CACHE}]:
    T = input_ids.size(1)
    pos0 = 0
    if len(past) > 0:
        pos0 = past[0][0].size(1)
    S = pos0 + T
    x = self.embed.index_select(0, input_ids[0])
    cos = self.rope_cos.narrow(0, pos0, T).unsqueeze(0)
    sin = self.rope_sin.narrow(0, pos0, T).unsqueeze(0)
    mask = torch.full([T, S], float('-inf')).triu(pos0 + 1)
    out: ${CACHE} = []
    for l in range(${s.layers}):
        h = self.rms(x, self.in_norm[l])
        q = torch.matmul(h, self.wq[l].t()).view(T, ${s.heads}, ${D}).transpose(0, 1)
        k = torch.matmul(h, self.wk[l].t()).view(T, ${s.kvHeads}, ${D}).transpose(0, 1)
        v = torch.matmul(h, self.wv[l].t()).view(T, ${s.kvHeads}, ${D}).transpose(0, 1)
        q = self.rotate(q, cos, sin)
        k = self.rotate(k, cos, sin)
        if len(past) > 0:
            k = torch.cat([past[l][0], k], 1)
            v = torch.cat([past[l][1], v], 1)
        out.append((k, v))
        kk = k.repeat_interleave(${s.heads / s.kvHeads}, 0)
        vv = v.repeat_interleave(${s.heads / s.kvHeads}, 0)
        att = torch.softmax(torch.matmul(q, kk.transpose(1, 2)) * ${1 / Math.sqrt(D)} + mask, -1)
        o = torch.matmul(att, vv).transpose(0, 1).reshape(T, ${s.hidden})
        x = x + torch.matmul(o, self.wo[l].t())
        h = self.rms(x, self.post_norm[l])
        g = torch.matmul(h, self.w_gate[l].t())
        x = x + torch.matmul(g * torch.sigmoid(g) * torch.matmul(h, self.w_up[l].t()), self.w_down[l].t())
    x = self.rms(x, self.norm)
    return torch.matmul(x, self.embed.t()).unsqueeze(0), out
`;
  const forward = {
    'full-recompute': `
def forward(self, input_ids: Tensor) -> Tensor:
    empty: ${CACHE} = []
    return self.run(input_ids, empty)[0]
`,
    'kv-optional': `
def forward(self, input_ids: Tensor, past_key_values: Optional[${CACHE}]) -> Tuple[Tensor, ${CACHE}]:
    past: ${CACHE} = []
    if past_key_values is not None:
        past = past_key_values
    return self.run(input_ids, past)
`,
    'kv-list': `
def forward(self, input_ids: Tensor, past_key_values: ${CACHE}) -> Tuple[Tensor, ${CACHE}]:
    return self.run(input_ids, past_key_values)
`,
  }[shape];
  return common + forward;
}
