// Which prompt format a model uses to switch reasoning on and off. Patterns are anchored on
// the repository name (any organisation, so fine-tunes and quantized re-uploads match too);
// when several match, the most specific entry wins (a variant such as Qwen3 *-Thinking-2507
// declares `specificity: 2` over its family's 1; ties go to the earlier entry). Unknown
// models get 'none' unless the user overrides the format for the run.

export type ReasoningFormatName =
  | 'harmony'
  | 'think-flags'
  | 'think-flags-user'
  | 'no-think-flag'
  | 'detailed-thinking'
  | 'think-prefix'
  | 'enable-thinking'
  | 'reasoning-effort'
  | 'thinking-kwarg'
  | 'always-reasoning'
  | 'none';

/** One line per format: how "on" and "off" are expressed (also used by --help texts). */
export const REASONING_FORMATS: Readonly<Record<ReasoningFormatName, string>> = {
  harmony: 'harmony (gpt-oss): "Reasoning: low|medium|high" in the system message via reasoning_effort (default high); off = low effort (cannot disable)',
  'think-flags': 'system-prompt flags: "/think" on, "/no_think" off, plus enable_thinking to match (SmolLM3)',
  'think-flags-user': 'flag before the user prompt, as the model card says: "/think" on, "/no_think" off, plus enable_thinking to match (Hunyuan)',
  'no-think-flag': 'reasons by default; system-prompt "/no_think" turns it off (Nemotron v1.5 / v2)',
  'detailed-thinking': 'system prompt "detailed thinking on" / "detailed thinking off" (Nemotron v1)',
  'think-prefix': 'answer prefixed with "<think>\\n" on; an empty think block "<think>\\n\\n</think>\\n\\n" off (DeepSeek-R1 family, QwQ)',
  'enable-thinking': 'chat-template kwarg enable_thinking true/false, optional thinking_budget (Qwen3)',
  'reasoning-effort': 'reasoning_effort low|medium|high as template kwarg and request field; off = low effort (cannot disable)',
  'thinking-kwarg': 'chat-template kwarg thinking true/false (Granite 3.2/3.3)',
  'always-reasoning': 'reasons on every prompt, with no switch (Phi-4-reasoning family): the prompt is sent as is; off is labelled "on (cannot disable)"',
  none: 'no reasoning control: the prompt is sent as is (user params still passed as template kwargs)',
};

export interface RegistryEntry {
  family: string;
  pattern: RegExp;
  format: ReasoningFormatName;
  /** Family patterns are 1; variants that refine a family are 2. */
  specificity?: number;
}

const ORG = '^(?:[^/]+/)?';

export const REASONING_REGISTRY: readonly RegistryEntry[] = [
  { family: 'gpt-oss', pattern: new RegExp(`${ORG}gpt-oss-`, 'i'), format: 'harmony' },
  { family: 'SmolLM3', pattern: new RegExp(`${ORG}SmolLM3-`, 'i'), format: 'think-flags' },
  { family: 'Hunyuan', pattern: new RegExp(`${ORG}Hunyuan-`, 'i'), format: 'think-flags-user' },
  { family: 'Nemotron', pattern: new RegExp(`${ORG}(?:NVIDIA-|OpenReasoning-|Llama-3[._]\\d-)?Nemotron-`, 'i'), format: 'no-think-flag' },
  {
    family: 'Nemotron v1',
    pattern: new RegExp(`${ORG}Llama-3[._]\\d-Nemotron-(?:Nano|Super|Ultra)-[\\d.]+B-v1$`, 'i'),
    format: 'detailed-thinking',
    specificity: 2,
  },
  { family: 'Nemotron 70B Instruct', pattern: new RegExp(`${ORG}Llama-3[._]1-Nemotron-70B-Instruct`, 'i'), format: 'none', specificity: 2 },
  { family: 'DeepSeek-R1', pattern: new RegExp(`${ORG}DeepSeek-R1`, 'i'), format: 'think-prefix' },
  { family: 'QwQ', pattern: new RegExp(`${ORG}QwQ-`, 'i'), format: 'think-prefix' },
  { family: 'Qwen3', pattern: new RegExp(`${ORG}Qwen3-`, 'i'), format: 'enable-thinking' },
  // Thinking-only Qwen3 variants (Thinking-2507, Qwen3-Next/VL -Thinking): the template opens <think> and reads no switch.
  { family: 'Qwen3 Thinking', pattern: new RegExp(`${ORG}Qwen3-.+-Thinking(?:-2507)?(?:$|[-_.])`, 'i'), format: 'think-prefix', specificity: 2 },
  { family: 'Qwen3 Instruct-2507', pattern: new RegExp(`${ORG}Qwen3-.+-Instruct-2507`, 'i'), format: 'none', specificity: 2 },
  { family: 'EXAONE 4.0', pattern: new RegExp(`${ORG}EXAONE-4\\.0`, 'i'), format: 'enable-thinking' },
  { family: 'Granite 3.2/3.3', pattern: new RegExp(`${ORG}granite-3\\.[23]-\\d+b-instruct`, 'i'), format: 'thinking-kwarg' },
  { family: 'Phi-4-reasoning', pattern: new RegExp(`${ORG}Phi-4-(?:mini-)?(?:flash-)?reasoning`, 'i'), format: 'always-reasoning' },
];

export interface ResolvedFormat {
  format: ReasoningFormatName;
  /** The pattern that matched, 'override' or 'default'. */
  pattern: string;
  family?: string;
}

/**
 * "org/name" from a Hugging Face id, a https://huggingface.co/ORG/NAME URL (with or without
 * /tree/… or query) or a local path (its last segment).
 */
export function normalizeModelId(modelId: string): string {
  if (typeof modelId !== 'string' || modelId.trim() === '') throw new TypeError('model id must be a non-empty string');
  let id = modelId.trim();
  const url = /^(?:https?:\/\/)?(?:www\.)?(?:huggingface\.co|hf\.co)\/(.*)$/i.exec(id);
  if (url) {
    const parts = url[1]!.split(/[?#]/)[0]!.split('/').filter(Boolean);
    const start = parts[0] === 'models' ? 1 : 0;
    return parts.slice(start, start + 2).join('/');
  }
  id = id.replace(/[\\/]+$/, '');
  const segments = id.split(/[\\/]/).filter(Boolean);
  return looksLikeLocalPath(id) ? segments[segments.length - 1] ?? id : segments.join('/');
}

/**
 * True when `id` can only be a file-system path, never a Hugging Face id ("org/name"): absolute,
 * ./ or ../ (any leading dot), ~, a drive letter, or more than two segments.
 */
export function looksLikeLocalPath(id: string): boolean {
  const t = id.trim();
  return t.startsWith('/') || t.startsWith('\\') || t.startsWith('.') || t.startsWith('~') || /^[a-z]:[\\/]/i.test(t) ||
    t.replace(/[\\/]+$/, '').split(/[\\/]/).filter(Boolean).length > 2;
}

export function isReasoningFormat(name: string): name is ReasoningFormatName {
  return Object.prototype.hasOwnProperty.call(REASONING_FORMATS, name);
}

export function resolveReasoningFormat(modelId: string, override?: string): ResolvedFormat {
  if (override !== undefined && override !== null && override !== '') {
    const name = override.trim().toLowerCase();
    if (!isReasoningFormat(name)) {
      throw new TypeError(`unknown reasoning format "${override}" (known: ${Object.keys(REASONING_FORMATS).join(', ')})`);
    }
    return { format: name, pattern: 'override' };
  }
  const id = normalizeModelId(modelId);
  let best: RegistryEntry | undefined;
  for (const entry of REASONING_REGISTRY) {
    if (!entry.pattern.test(id)) continue;
    if (!best || (entry.specificity ?? 1) > (best.specificity ?? 1)) best = entry;
  }
  if (!best) return { format: 'none', pattern: 'default' };
  return { format: best.format, pattern: best.pattern.source, family: best.family };
}

/** Fallback by config.json `model_type` for local checkpoints whose directory name says nothing. */
const MODEL_TYPE_FORMATS: Readonly<Record<string, ReasoningFormatName>> = {
  gpt_oss: 'harmony',
  smollm3: 'think-flags',
  qwen3: 'enable-thinking',
  qwen3_moe: 'enable-thinking',
  hunyuan_v1_dense: 'think-flags-user',
  hunyuan_v1_moe: 'think-flags-user',
  exaone4: 'enable-thinking',
};

/**
 * resolveReasoningFormat, then (only when no pattern matched and there is no override) the
 * config.json model_type fallback.
 */
export function resolveReasoningFormatForCheckpoint(modelId: string, modelType: string | undefined, override?: string): ResolvedFormat {
  const resolved = resolveReasoningFormat(modelId, override);
  if (resolved.pattern !== 'default' || modelType === undefined) return resolved;
  const byType = MODEL_TYPE_FORMATS[modelType];
  return byType ? { format: byType, pattern: `model_type=${modelType}` } : resolved;
}
