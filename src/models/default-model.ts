// The built-in default model: a small Llama-architecture checkpoint generated on first use
// (seeded random weights, byte-level tokenizer, simple chat template) so that every command
// works with no download. Its outputs are meaningless text; the time and energy it spends
// computing them are real, which is all a benchmark smoke test needs.
//
// Cache layout: <cacheRoot>/default-model-v1/{config.json, generation_config.json,
// tokenizer.json, tokenizer_config.json, model.safetensors, manifest.json}. The directory is
// built in a sibling temp directory and renamed into place, so it is either absent or
// complete; manifest.json (written last) lists every file's size and sha256 and is checked
// on each call, and a cache that fails the check is replaced.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../checkpoint/safetensors-writer.js';
import { buildByteTokenizer } from './byte-tokenizer.js';
import { SeededRandom, stringSeed } from './seeded-random.js';
import { makeDirectory } from '../util/make-directory.js';

export const DEFAULT_MODEL_NAME = 'default-model-v1';
export const DEFAULT_MODEL_ID = 'ai-energy-benchmarks/default-model-v1';
const MANIFEST = 'manifest.json';
const MANIFEST_VERSION = 1;
const WEIGHT_SEED = 20240601;
const WEIGHT_STD = 0.02;

export const DEFAULT_MODEL_SHAPE = {
  hiddenSize: 256,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 4,
  intermediateSize: 688,
  maxPositionEmbeddings: 2048,
} as const;

/** <unk>=0, <s>=1, </s>=2, bytes 3..258, then the chat role tokens and two reserved ids. */
const TOKENIZER = buildByteTokenizer({
  leadingSpecials: ['<unk>', '<s>', '</s>'],
  trailingSpecials: ['<|system|>', '<|user|>', '<|assistant|>', '<|reserved_0|>', '<|reserved_1|>'],
});

/**
 * Logit bias (through the bias channel) that keeps sampled text long and readable: special
 * tokens, eos included, are practically never produced, so runs last until max_new_tokens;
 * printable ASCII is favoured over other bytes, so the stream is mostly valid UTF-8.
 */
function logitBias(id: number): number {
  const byte = id - TOKENIZER.firstByteId;
  if (byte < 0 || byte > 255) return -4;
  return (byte >= 0x20 && byte < 0x7f) || byte === 0x0a ? 0.15 : -0.6;
}

/** Zephyr-style: <s><|role|>\ncontent</s>\n … <|assistant|>\n */
export const DEFAULT_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|' + message.role + '|>\\n' + message.content + eos_token + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

export function defaultModelConfig(): Record<string, unknown> {
  const s = DEFAULT_MODEL_SHAPE;
  return {
    _name_or_path: DEFAULT_MODEL_ID,
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hiddenSize,
    intermediate_size: s.intermediateSize,
    num_hidden_layers: s.numLayers,
    num_attention_heads: s.numHeads,
    num_key_value_heads: s.numKvHeads,
    head_dim: s.hiddenSize / s.numHeads,
    hidden_act: 'silu',
    max_position_embeddings: s.maxPositionEmbeddings,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    rope_scaling: null,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: false,
    vocab_size: TOKENIZER.vocabSize,
    bos_token_id: TOKENIZER.specialIds['<s>'],
    eos_token_id: TOKENIZER.specialIds['</s>'],
    pad_token_id: null,
    initializer_range: WEIGHT_STD,
    torch_dtype: 'float32',
    use_cache: true,
    description: 'Built-in benchmark model with seeded random weights: its text is meaningless, its timings and energy are real.',
  };
}

function tensors(): TensorToWrite[] {
  const s = DEFAULT_MODEL_SHAPE;
  const headDim = s.hiddenSize / s.numHeads;
  const kvDim = s.numKvHeads * headDim;
  const vocab = TOKENIZER.vocabSize;
  const out: TensorToWrite[] = [];
  const normal = (name: string, shape: number[]): void => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    new SeededRandom(stringSeed(name, WEIGHT_SEED)).fillNormal(data, WEIGHT_STD);
    out.push({ name, dtype: 'F32', shape, data });
  };
  const ones = (name: string): void => {
    out.push({ name, dtype: 'F32', shape: [s.hiddenSize], data: new Float32Array(s.hiddenSize).fill(1) });
  };
  normal('model.embed_tokens.weight', [vocab, s.hiddenSize]);
  // Bias channel: hidden dimension 0 of every embedding is 1, so after each RMSNorm it
  // dominates and lm_head column 0 acts as a per-token logit bias (Llama has no lm_head bias).
  const embed = out[0]!.data as Float32Array;
  for (let t = 0; t < vocab; t++) embed[t * s.hiddenSize] = 1;
  for (let i = 0; i < s.numLayers; i++) {
    const p = `model.layers.${i}`;
    ones(`${p}.input_layernorm.weight`);
    normal(`${p}.self_attn.q_proj.weight`, [s.hiddenSize, s.hiddenSize]);
    normal(`${p}.self_attn.k_proj.weight`, [kvDim, s.hiddenSize]);
    normal(`${p}.self_attn.v_proj.weight`, [kvDim, s.hiddenSize]);
    normal(`${p}.self_attn.o_proj.weight`, [s.hiddenSize, s.hiddenSize]);
    ones(`${p}.post_attention_layernorm.weight`);
    normal(`${p}.mlp.gate_proj.weight`, [s.intermediateSize, s.hiddenSize]);
    normal(`${p}.mlp.up_proj.weight`, [s.intermediateSize, s.hiddenSize]);
    normal(`${p}.mlp.down_proj.weight`, [s.hiddenSize, s.intermediateSize]);
  }
  ones('model.norm.weight');
  normal('lm_head.weight', [vocab, s.hiddenSize]);
  const head = out[out.length - 1]!.data as Float32Array;
  for (let t = 0; t < vocab; t++) head[t * s.hiddenSize] = logitBias(t);
  return out;
}

function jsonFiles(): Record<string, unknown> {
  return {
    'config.json': defaultModelConfig(),
    'generation_config.json': {
      bos_token_id: TOKENIZER.specialIds['<s>'],
      eos_token_id: TOKENIZER.specialIds['</s>'],
      max_length: DEFAULT_MODEL_SHAPE.maxPositionEmbeddings,
    },
    'tokenizer.json': TOKENIZER.tokenizerJson,
    'tokenizer_config.json': {
      tokenizer_class: 'PreTrainedTokenizerFast',
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      pad_token: null,
      clean_up_tokenization_spaces: false,
      model_max_length: DEFAULT_MODEL_SHAPE.maxPositionEmbeddings,
      chat_template: DEFAULT_CHAT_TEMPLATE,
    },
  };
}

export function defaultCacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.trim() !== '' ? xdg : join(homedir(), '.cache'), 'ai-energy-benchmarks');
}

interface Manifest {
  version: number;
  name: string;
  files: Record<string, { size: number; sha256: string }>;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Why `dir` is not a complete default model, or undefined when it is. */
export async function checkDefaultModel(dir: string): Promise<string | undefined> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch (err) {
    return `${MANIFEST} unreadable: ${(err as Error).message}`;
  }
  if (manifest.version !== MANIFEST_VERSION || manifest.name !== DEFAULT_MODEL_NAME || !manifest.files) {
    return `${MANIFEST} is not a ${DEFAULT_MODEL_NAME} v${MANIFEST_VERSION} manifest`;
  }
  const expected = ['model.safetensors', ...Object.keys(jsonFiles())];
  for (const name of expected) {
    const entry = manifest.files[name];
    if (!entry) return `${MANIFEST} does not list ${name}`;
    try {
      const st = await stat(join(dir, name));
      if (st.size !== entry.size) return `${name} has ${st.size} bytes, manifest says ${entry.size}`;
      if ((await sha256File(join(dir, name))) !== entry.sha256) return `${name} does not match its sha256`;
    } catch (err) {
      return `${name}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

async function generateInto(dir: string): Promise<void> {
  const files: Manifest['files'] = {};
  for (const [name, value] of Object.entries(jsonFiles())) {
    const text = `${JSON.stringify(value, null, 2)}\n`;
    await writeFile(join(dir, name), text);
    files[name] = { size: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
  }
  const weights = join(dir, 'model.safetensors');
  await writeSafetensors(weights, tensors(), { format: 'pt', generator: DEFAULT_MODEL_ID, seed: String(WEIGHT_SEED) });
  files['model.safetensors'] = { size: (await stat(weights)).size, sha256: await sha256File(weights) };
  const manifest: Manifest = { version: MANIFEST_VERSION, name: DEFAULT_MODEL_NAME, files };
  await writeFile(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
}

function isDirTaken(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EPERM';
}

/**
 * Path of the default model directory, generating it on first use. `cacheRoot` defaults to
 * $XDG_CACHE_HOME/ai-energy-benchmarks (or ~/.cache/ai-energy-benchmarks).
 */
export async function ensureDefaultModel(cacheRoot: string = defaultCacheRoot()): Promise<string> {
  const target = join(cacheRoot, DEFAULT_MODEL_NAME);
  const problem = await checkDefaultModel(target);
  if (problem === undefined) return target;
  try {
    await makeDirectory(cacheRoot);
  } catch (err) {
    throw new Error(`cannot create the model cache directory ${cacheRoot}: ${(err as Error).message}`, { cause: err });
  }
  const tmp = await mkdtemp(join(cacheRoot, `${DEFAULT_MODEL_NAME}.tmp-`));
  try {
    await generateInto(tmp);
    await chmod(tmp, 0o755); // mkdtemp makes it 0700
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmp, target);
        return target;
      } catch (err) {
        if (!isDirTaken(err) || attempt >= 3) throw err;
      }
      // Another process finished first, or a broken cache is in the way: move it aside.
      if ((await checkDefaultModel(target)) === undefined) return target;
      const stale = `${target}.stale-${randomBytes(4).toString('hex')}`;
      try {
        await rename(target, stale);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      await rm(stale, { recursive: true, force: true });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
