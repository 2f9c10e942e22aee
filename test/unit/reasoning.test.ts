import { beforeAll, describe, expect, it } from 'vitest';
import {
  appendAssistantPrefix,
  chatRequestBody,
  normalizeModelId,
  normalizeReasoningParams,
  parseReasoningState,
  prepareReasoningPrompt,
  REASONING_FORMATS,
  REASONING_REGISTRY,
  resolveReasoningFormat,
} from '../../src/formatters/index.js';
import { loadTextPipeline, type TextPipeline } from '../../src/text/pipeline.js';
import { GPTOSS_DIR, QWEN3_DIR } from '../fixtures/text/paths.js';

const OFF_VALUES: unknown[] = [false, 'false', 0, '0', 'off', 'Off', 'no', 'OFF ', 'disabled'];
const ON_VALUES: unknown[] = [true, 'true', 1, '1', 'on', 'On', 'yes', 'enabled'];

describe('parseReasoningState', () => {
  it.each(OFF_VALUES)('%j means off', (v) => expect(parseReasoningState(v)).toEqual({ enabled: false }));
  it.each(ON_VALUES)('%j means on', (v) => expect(parseReasoningState(v)).toEqual({ enabled: true }));

  it('maps the models CSV reasoning-state strings', () => {
    expect(parseReasoningState('On (High)')).toEqual({ enabled: true, effort: 'high' });
    expect(parseReasoningState('On (Low)')).toEqual({ enabled: true, effort: 'low' });
    expect(parseReasoningState('on(medium)')).toEqual({ enabled: true, effort: 'medium' });
    expect(parseReasoningState('Off (N/A)')).toEqual({ enabled: false, notApplicable: true });
    expect(parseReasoningState('high')).toEqual({ enabled: true, effort: 'high' });
  });

  it('rejects values it does not understand, naming them', () => {
    expect(() => parseReasoningState('maybe')).toThrow(/"maybe" is not understood/);
    expect(() => parseReasoningState(2)).toThrow(/2 is not understood/);
    expect(() => parseReasoningState('On (Extreme)')).toThrow(/"extreme" is not an effort/i);
    expect(() => parseReasoningState('Off (High)')).toThrow(/"Off" cannot carry an effort/);
    expect(() => parseReasoningState(undefined)).toThrow(/missing/);
  });

  it('types reasoning params from strings', () => {
    expect(normalizeReasoningParams({ enable_thinking: 'false', thinking_budget: '512', reasoning_effort: 'High', top_k: 5 })).toEqual({
      enable_thinking: false,
      thinking_budget: 512,
      reasoning_effort: 'high',
      top_k: 5,
    });
    expect(() => normalizeReasoningParams({ thinking_budget: '-1' })).toThrow(/thinking_budget: "-1"/);
    expect(() => normalizeReasoningParams({ reasoning_effort: 'max' })).toThrow(/reasoning_effort: "max" is not one of low, medium, high/);
    expect(() => normalizeReasoningParams({ enable_thinking: 'sometimes' })).toThrow(/enable_thinking: "sometimes"/);
  });
});

describe('resolveReasoningFormat', () => {
  it.each([
    ['openai/gpt-oss-20b', 'harmony'],
    ['https://huggingface.co/openai/gpt-oss-120b', 'harmony'],
    ['https://huggingface.co/openai/gpt-oss-120b/tree/main?x=1', 'harmony'],
    ['HuggingFaceTB/SmolLM3-3B', 'think-flags'],
    ['tencent/Hunyuan-A13B-Instruct', 'think-flags-user'],
    ['nvidia/NVIDIA-Nemotron-Nano-9B-v2', 'no-think-flag'],
    ['nvidia/Llama-3_3-Nemotron-Super-49B-v1_5', 'no-think-flag'],
    ['nvidia/Llama-3_3-Nemotron-Super-49B-v1', 'detailed-thinking'],
    ['nvidia/Llama-3.1-Nemotron-Nano-8B-v1', 'detailed-thinking'],
    ['deepseek-ai/DeepSeek-R1', 'think-prefix'],
    ['deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B', 'think-prefix'],
    ['Qwen/QwQ-32B', 'think-prefix'],
    ['Qwen/Qwen3-8B', 'enable-thinking'],
    ['https://huggingface.co/Qwen/Qwen3-30B-A3B', 'enable-thinking'],
    ['Qwen/Qwen3-30B-A3B-Thinking-2507', 'think-prefix'],
    ['Qwen/Qwen3-235B-A22B-Instruct-2507', 'none'],
    ['LGAI-EXAONE/EXAONE-4.0-32B', 'enable-thinking'],
    ['ibm-granite/granite-3.3-8b-instruct', 'thinking-kwarg'],
    ['/models/local/Qwen3-0.6B', 'enable-thinking'],
    ['meta-llama/Llama-3.1-8B-Instruct', 'none'],
  ])('%s → %s', (id, format) => {
    expect(resolveReasoningFormat(id).format).toBe(format);
  });

  it('is anchored: a family name in the middle of another name does not match', () => {
    expect(resolveReasoningFormat('someone/not-gpt-oss-20b').format).toBe('none');
    expect(resolveReasoningFormat('someone/MyQwen3-8B').format).toBe('none');
  });

  it('reports the pattern, and lets the user override per run', () => {
    expect(resolveReasoningFormat('Qwen/Qwen3-8B').pattern).toMatch(/Qwen3-/);
    expect(resolveReasoningFormat('meta-llama/Llama-3.1-8B-Instruct')).toEqual({ format: 'none', pattern: 'default' });
    expect(resolveReasoningFormat('meta-llama/Llama-3.1-8B-Instruct', 'think-prefix')).toEqual({ format: 'think-prefix', pattern: 'override' });
    expect(() => resolveReasoningFormat('x/y', 'bogus')).toThrow(/unknown reasoning format "bogus" \(known: harmony/);
  });

  it('normalizes ids, URLs and paths', () => {
    expect(normalizeModelId('https://huggingface.co/Qwen/Qwen3-8B/')).toBe('Qwen/Qwen3-8B');
    expect(normalizeModelId('hf.co/Qwen/Qwen3-8B')).toBe('Qwen/Qwen3-8B');
    expect(normalizeModelId('./models/Qwen3-8B/')).toBe('Qwen3-8B');
    expect(() => normalizeModelId('  ')).toThrow(/non-empty/);
  });

  it('every registry format is documented', () => {
    for (const entry of REASONING_REGISTRY) expect(REASONING_FORMATS[entry.format]).toBeTruthy();
  });
});

/** One representative model per family, with the exact on/off forms the formatter must produce. */
const FAMILIES: Array<{
  id: string;
  on: (p: ReturnType<typeof prepareReasoningPrompt>) => void;
  off: (p: ReturnType<typeof prepareReasoningPrompt>) => void;
}> = [
  {
    id: 'openai/gpt-oss-20b',
    on: (p) => {
      expect(p.templateKwargs).toEqual({ reasoning_effort: 'high' });
      expect(p.requestFields).toEqual({ reasoning_effort: 'high', chat_template_kwargs: { reasoning_effort: 'high' } });
      expect(p.label).toBe('on (effort high)');
    },
    off: (p) => {
      expect(p.templateKwargs).toEqual({ reasoning_effort: 'low' });
      expect(p.requestFields.reasoning_effort).toBe('low');
      expect(p.label).toBe('low-effort (cannot disable)');
    },
  },
  {
    id: 'HuggingFaceTB/SmolLM3-3B',
    on: (p) => {
      expect(p.messages).toEqual([{ role: 'system', content: '/think' }, { role: 'user', content: 'Q' }]);
      expect(p.templateKwargs).toEqual({ enable_thinking: true });
    },
    off: (p) => {
      expect(p.messages).toEqual([{ role: 'system', content: '/no_think' }, { role: 'user', content: 'Q' }]);
      expect(p.requestFields).toEqual({ chat_template_kwargs: { enable_thinking: false } });
    },
  },
  {
    id: 'tencent/Hunyuan-7B-Instruct',
    on: (p) => {
      expect(p.messages).toEqual([{ role: 'user', content: '/thinkQ' }]);
      expect(p.templateKwargs).toEqual({ enable_thinking: true });
    },
    off: (p) => {
      expect(p.messages).toEqual([{ role: 'user', content: '/no_thinkQ' }]);
      expect(p.templateKwargs).toEqual({ enable_thinking: false });
    },
  },
  {
    id: 'nvidia/NVIDIA-Nemotron-Nano-9B-v2',
    on: (p) => {
      expect(p.messages).toEqual([{ role: 'user', content: 'Q' }]);
      expect(p.label).toBe('on (model default)');
    },
    off: (p) => expect(p.messages).toEqual([{ role: 'system', content: '/no_think' }, { role: 'user', content: 'Q' }]),
  },
  {
    id: 'nvidia/Llama-3_3-Nemotron-Super-49B-v1',
    on: (p) => expect(p.messages[0]).toEqual({ role: 'system', content: 'detailed thinking on' }),
    off: (p) => expect(p.messages[0]).toEqual({ role: 'system', content: 'detailed thinking off' }),
  },
  {
    id: 'deepseek-ai/DeepSeek-R1-Distill-Llama-8B',
    on: (p) => expect(p.assistantPrefix).toBe('<think>\n'),
    off: (p) => {
      expect(p.assistantPrefix).toBe('<think>\n\n</think>\n\n');
      expect(p.label).toBe('off (empty think block)');
    },
  },
  {
    id: 'Qwen/Qwen3-8B',
    on: (p) => {
      expect(p.templateKwargs).toEqual({ enable_thinking: true });
      expect(p.requestFields).toEqual({ chat_template_kwargs: { enable_thinking: true } });
    },
    off: (p) => {
      expect(p.templateKwargs).toEqual({ enable_thinking: false });
      expect(p.requestFields).toEqual({ chat_template_kwargs: { enable_thinking: false } });
    },
  },
  {
    id: 'ibm-granite/granite-3.2-8b-instruct',
    on: (p) => expect(p.templateKwargs).toEqual({ thinking: true }),
    off: (p) => expect(p.templateKwargs).toEqual({ thinking: false }),
  },
  {
    // No switch: the same prompt either way, and an "off" run says it could not be.
    id: 'microsoft/Phi-4-reasoning-plus',
    on: (p) => {
      expect(p.templateKwargs).toEqual({});
      expect(p.label).toBe('on');
    },
    off: (p) => {
      expect(p.messages).toEqual([{ role: 'user', content: 'Q' }]);
      expect(p.label).toBe('on (cannot disable)');
    },
  },
];

describe('prepareReasoningPrompt: every family, on and off, typed and string inputs', () => {
  it('the families below plus the generic formats cover every format', () => {
    const covered = new Set<string>([...FAMILIES.map((f) => resolveReasoningFormat(f.id).format), 'reasoning-effort', 'none']);
    expect([...covered].sort()).toEqual(Object.keys(REASONING_FORMATS).sort());
  });

  for (const family of FAMILIES) {
    it.each(ON_VALUES)(`${family.id} on via %j`, (value) => {
      const p = prepareReasoningPrompt({ modelId: family.id, reasoning: value, prompt: 'Q' });
      expect(p.enabled).toBe(true);
      family.on(p);
    });
    it.each(OFF_VALUES)(`${family.id} off via %j`, (value) => {
      const p = prepareReasoningPrompt({ modelId: family.id, reasoning: value, prompt: 'Q' });
      expect(p.enabled).toBe(false);
      family.off(p);
    });
    it(`${family.id} accepts ReasoningSettings with string "false"`, () => {
      const p = prepareReasoningPrompt({ modelId: family.id, reasoning: { enabled: 'false', params: {} }, prompt: 'Q' });
      expect(p.enabled).toBe(false);
      family.off(p);
    });
  }

  it('harmony and reasoning-effort carry the requested effort from CSV states and params', () => {
    expect(prepareReasoningPrompt({ modelId: 'openai/gpt-oss-120b', reasoning: 'On (Low)', prompt: 'Q' }).templateKwargs).toEqual({ reasoning_effort: 'low' });
    expect(
      prepareReasoningPrompt({ modelId: 'openai/gpt-oss-120b', reasoning: { enabled: true, params: { reasoning_effort: 'Medium' } }, prompt: 'Q' })
        .requestFields.reasoning_effort,
    ).toBe('medium');
    const generic = prepareReasoningPrompt({ modelId: 'x/y', format: 'reasoning-effort', reasoning: 'off', prompt: 'Q' });
    expect(generic.label).toBe('low-effort (cannot disable)');
    expect(() => prepareReasoningPrompt({ modelId: 'openai/gpt-oss-120b', reasoning: 'off', params: { reasoning_effort: 'high' }, prompt: 'Q' })).toThrow(
      /reasoning is off but reasoning_effort is high/,
    );
  });

  it('enable-thinking passes thinking_budget when on and rejects contradictions', () => {
    const p = prepareReasoningPrompt({ modelId: 'Qwen/Qwen3-8B', reasoning: 'on', params: { thinking_budget: '256' }, prompt: 'Q' });
    expect(p.templateKwargs).toEqual({ enable_thinking: true, thinking_budget: 256 });
    expect(p.label).toBe('on (thinking_budget 256 passed, not enforced by the Qwen3 template)');
    const off = prepareReasoningPrompt({ modelId: 'Qwen/Qwen3-8B', reasoning: 'off', params: { thinking_budget: 256 }, prompt: 'Q' });
    expect(off.templateKwargs).toEqual({ enable_thinking: false });
    expect(() => prepareReasoningPrompt({ modelId: 'Qwen/Qwen3-8B', reasoning: true, params: { enable_thinking: 'false' }, prompt: 'Q' })).toThrow(
      /reasoning is on but enable_thinking is false/,
    );
  });

  it('none: on is labelled as uncontrolled, "Off (N/A)" as n/a, user params still travel', () => {
    expect(prepareReasoningPrompt({ modelId: 'meta-llama/Llama-3.1-8B-Instruct', reasoning: 'on', prompt: 'Q' }).label).toMatch(/no reasoning control/);
    const na = prepareReasoningPrompt({ modelId: 'meta-llama/Llama-3.1-8B-Instruct', reasoning: 'Off (N/A)', params: { foo: 1 }, prompt: 'Q' });
    expect(na.label).toBe('off (n/a)');
    expect(na.requestFields).toEqual({ chat_template_kwargs: { foo: 1 } });
  });

  it('keeps a user system prompt next to the flags', () => {
    const p = prepareReasoningPrompt({ modelId: 'HuggingFaceTB/SmolLM3-3B', reasoning: false, prompt: 'Q', systemPrompt: 'Be brief.' });
    expect(p.messages[0]).toEqual({ role: 'system', content: 'Be brief.\n/no_think' });
  });

  it('chatRequestBody sends a think prefix as a continued assistant message', () => {
    const p = prepareReasoningPrompt({ modelId: 'deepseek-ai/DeepSeek-R1', reasoning: 'off', prompt: 'Q' });
    expect(chatRequestBody(p)).toEqual({
      messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: '<think>\n\n</think>\n\n' }],
      continue_final_message: true,
      add_generation_prompt: false,
    });
    const q = prepareReasoningPrompt({ modelId: 'Qwen/Qwen3-8B', reasoning: 'off', prompt: 'Q' });
    expect(chatRequestBody(q)).toEqual({ messages: [{ role: 'user', content: 'Q' }], chat_template_kwargs: { enable_thinking: false } });
  });

  it('appendAssistantPrefix does not repeat a <think> the template already opened', () => {
    expect(appendAssistantPrefix('A:\n', '<think>\n')).toBe('A:\n<think>\n');
    expect(appendAssistantPrefix('A:\n<think>\n', '<think>\n')).toBe('A:\n<think>\n');
    expect(appendAssistantPrefix('A:\n<think>\n', '<think>\n\n</think>\n\n')).toBe('A:\n<think>\n\n</think>\n\n');
    expect(appendAssistantPrefix('a <', '<think>\n')).toBe('a <<think>\n');
  });
});

describe('rendered prompts with the real templates', () => {
  let qwen: TextPipeline;
  let gptoss: TextPipeline;
  beforeAll(async () => {
    qwen = await loadTextPipeline(QWEN3_DIR, { modelId: 'Qwen/Qwen3-8B' });
    gptoss = await loadTextPipeline(GPTOSS_DIR, { modelId: 'https://huggingface.co/openai/gpt-oss-20b' });
  });

  it('Qwen3: thinking on and off differ exactly by the empty think block', () => {
    const on = qwen.preparePrompt({ index: 0, text: 'Hi' }, { enabled: true, params: {} });
    const off = qwen.preparePrompt({ index: 0, text: 'Hi' }, { enabled: false, params: {} });
    expect(on.text).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(off.text).toBe(`${on.text}<think>\n\n</think>\n\n`);
    expect(off.ids.slice(0, on.ids.length)).toEqual(on.ids);
    expect(qwen.tokenizer.decode(off.ids.slice(on.ids.length))).toBe('<think>\n\n</think>\n\n');
  });

  it('gpt-oss: the harmony system message carries the requested effort (default high, off = low)', () => {
    const high = gptoss.preparePrompt({ index: 0, text: 'Hi' }, { enabled: true, params: {} });
    const medium = gptoss.preparePrompt({ index: 0, text: 'Hi' }, { enabled: true, params: { reasoning_effort: 'medium' } });
    const off = gptoss.preparePrompt({ index: 0, text: 'Hi' }, { enabled: false, params: {} });
    expect(high.text).toMatch(/^<\|start\|>system<\|message\|>[^]*\nReasoning: high\n[^]*<\|end\|><\|start\|>user<\|message\|>Hi<\|end\|><\|start\|>assistant$/);
    expect(medium.text).toContain('Reasoning: medium');
    expect(off.text).toContain('Reasoning: low');
    expect(off.reasoningLabel).toBe('low-effort (cannot disable)');
    // Harmony control tokens are real special tokens of the o200k vocabulary.
    expect(high.ids[0]).toBe(gptoss.tokenizer.tokenToId('<|start|>'));
    expect(high.ids.at(-1)).toBe(gptoss.tokenizer.tokenToId('assistant'));
  });
});
