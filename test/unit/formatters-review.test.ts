// Regression tests from the reasoning-format / TTFO review. Each test exercises the real
// wiring (runner formatting → request body, real tokenizer bundles → decoder → tracker,
// SSE processor → record) and fails on the code as reviewed; see the review report.
import { beforeAll, describe, expect, it } from 'vitest';
import { AnswerStartTracker } from '../../src/backends/native.js';
import { buildRequestBody } from '../../src/backends/openai/request-body.js';
import { buildRecord } from '../../src/backends/openai/record.js';
import { OpenAIStreamProcessor } from '../../src/backends/openai/stream-processor.js';
import type { GenerationSettings, PromptInput } from '../../src/backends/types.js';
import type { GenerationResult } from '../../src/engine/index.js';
import { prepareReasoningPrompt } from '../../src/formatters/index.js';
import { adaptForHttp, formatReasoningPrompts } from '../../src/runner/reasoning.js';
import { StreamDecoder } from '../../src/text/detokenizer.js';
import { loadTextPipeline, type TextPipeline } from '../../src/text/pipeline.js';
import { GPTOSS_DIR, QWEN3_DIR } from '../fixtures/text/paths.js';

const BASE: GenerationSettings = { maxNewTokens: 16, minNewTokens: 0, temperature: 0 };

/** The chat body the OpenAI backend sends for one prompt of a run in `state`. */
function chatBody(model: string, state: string): Record<string, unknown> {
  const prompts: PromptInput[] = [{ index: 0, text: 'Why is the sea salty?' }];
  const f = formatReasoningPrompts(prompts, model, state);
  return buildRequestBody(f.prompts[0]!, { ...BASE, reasoning: f.reasoning }, { api: 'chat', model, continuousUsage: false });
}

describe('think-prefix models over HTTP: "Off" is not claimed', () => {
  // DeepSeek-R1 (+ distills), QwQ and Qwen3 *-Thinking templates end the generation prompt
  // with "<think>\n" themselves; the off form exists only as an assistant prefix, which the
  // native pipeline appends but a chat request cannot carry (R1's template drops assistant text
  // up to </think>). The Off and On requests are the same, so the run must not say "off".
  it.each(['deepseek-ai/DeepSeek-R1-Distill-Qwen-7B', 'Qwen/QwQ-32B', 'Qwen/Qwen3-30B-A3B-Thinking-2507'])(
    '%s: an Off run over HTTP is labelled as reasoning',
    (model) => {
      expect(JSON.stringify(chatBody(model, 'Off'))).toBe(JSON.stringify(chatBody(model, 'On')));
      const off = adaptForHttp(formatReasoningPrompts([{ index: 0, text: 'x' }], model, 'Off'), 'chat');
      expect(off.label).toMatch(/^on \(cannot disable over HTTP/);
      const native = formatReasoningPrompts([{ index: 0, text: 'x' }], model, 'Off');
      expect(native.label).toBe('off (empty think block)'); // the native pipeline appends the empty block
    },
  );
});

describe('backend.api = completions with a reasoning state', () => {
  // The completions body is the raw prompt text: no chat template, no flags, no kwargs. The
  // reasoning state is silently dropped while the results carry its label.
  it('Qwen3 Off and On send different requests (or the run is refused)', () => {
    const body = (state: string) => {
      const f = formatReasoningPrompts([{ index: 0, text: 'Why is the sea salty?' }], 'Qwen/Qwen3-8B', state);
      return JSON.stringify(buildRequestBody(f.prompts[0]!, { ...BASE, reasoning: f.reasoning }, { api: 'completions', model: 'Qwen/Qwen3-8B', continuousUsage: false }));
    };
    let off: string;
    let on: string;
    try {
      off = body('Off');
      on = body('On');
    } catch (err) {
      expect((err as Error).message).toMatch(/completions/); // refusing is a fix too, if it says why
      return;
    }
    expect(off).not.toBe(on);
  });

  it('a run with a reasoning state on the completions API is refused before any request, saying why', () => {
    const f = formatReasoningPrompts([{ index: 0, text: 'x' }], 'Qwen/Qwen3-8B', 'Off');
    expect(() => adaptForHttp(f, 'completions')).toThrow(/backend\.api completions: that API sends the raw prompt with no chat template/);
    const plain = formatReasoningPrompts([{ index: 0, text: 'x' }], 'meta-llama/Llama-3.1-8B-Instruct', 'Off (N/A)');
    expect(adaptForHttp(plain, 'completions').label).toBe('off (n/a)');
  });
});

/** One content chunk of a chat stream, as a server without a reasoning parser sends it. */
const contentChunk = (content: string, finish: string | null = null) =>
  `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;

/** Feeds [text, ms] reads to `proc` and builds the request's record (request start at 0). */
function recordOf(proc: OpenAIStreamProcessor, reads: [string, number][]) {
  for (const [text, msAt] of reads) proc.feed(text, BigInt(msAt) * 1_000_000n);
  const endNs = BigInt(reads[reads.length - 1]![1]) * 1_000_000n;
  return buildRecord(proc, { index: 0, enqueueNs: 0n, startNs: 0n, endNs, httpStatus: 200 });
}

describe('thinking streamed as content (no reasoning parser), cut off before </think>', () => {

  it('a content stream that opened <think> and never closed it has no answer: TTFO is unknown', () => {
    const proc = new OpenAIStreamProcessor({ thinkMarker: true });
    const rec = recordOf(proc, [
      [contentChunk('<think>'), 5],
      [contentChunk('\nThe user asks'), 8],
      [contentChunk(' why the sea', 'length'), 11],
      ['data: [DONE]\n\n', 12],
    ]);
    expect(rec.ttftMs).toBe(5);
    expect(rec.ttfoMs).toBeNull(); // observed: 5 (= TTFT), every token was thinking
  });
});

describe('always-reasoning families are not labelled "off"', () => {
  // Phi-4-reasoning(-plus/-mini) are trained to answer "<think> {Thought} </think> {Solution}"
  // and have no off switch; Qwen3-Next/VL "-Thinking" (no -2507 suffix) templates always open
  // "<think>" and never read enable_thinking. Resolved as 'none' / 'enable-thinking', an Off
  // run changes nothing the model reads, yet the results say plain "off".
  it.each(['microsoft/Phi-4-reasoning', 'microsoft/Phi-4-reasoning-plus', 'microsoft/Phi-4-mini-reasoning', 'Qwen/Qwen3-Next-80B-A3B-Thinking'])(
    '%s Off',
    (model) => {
      const p = prepareReasoningPrompt({ modelId: model, reasoning: 'Off', prompt: 'x' });
      expect(p.label).not.toBe('off');
    },
  );
});

describe('Qwen3 thinking_budget', () => {
  let qwen: TextPipeline;
  beforeAll(async () => {
    qwen = await loadTextPipeline(QWEN3_DIR, { modelId: 'Qwen/Qwen3-8B' });
  });

  it('is not claimed in the label when neither the template nor the request enforces it', () => {
    const budget = qwen.preparePrompt({ index: 0, text: 'Hi' }, { enabled: true, params: { thinking_budget: 16 } });
    const plain = qwen.preparePrompt({ index: 0, text: 'Hi' }, { enabled: true, params: {} });
    expect(budget.text).toBe(plain.text); // the real Qwen3 template never reads thinking_budget
    const body = chatBody('Qwen/Qwen3-8B', 'On');
    const withBudget = buildRequestBody({ index: 0, text: 'Hi' }, { ...BASE, reasoning: { enabled: true, params: { enable_thinking: true, thinking_budget: 16 } } },
      { api: 'chat', model: 'Qwen/Qwen3-8B', continuousUsage: false });
    // Only chat_template_kwargs changes, and the template ignores it; vLLM has no such field.
    expect(Object.keys(withBudget).sort()).toEqual(Object.keys(body).sort());
    expect(budget.reasoningLabel).not.toMatch(/^on \(thinking_budget \d+\)$/);
  });
});

describe('Granite 3.2 thinking streamed as content (no granite reasoning parser)', () => {
  // Granite 3.2 with thinking=true writes "Here is my thought process:" … "Here is my response:"
  // (its template's system text; vLLM's GraniteReasoningParser splits on the same phrases).
  it('TTFO is taken at the response, not on the first thought chunk', () => {
    const { reasoning } = formatReasoningPrompts([{ index: 0, text: 'x' }], 'ibm-granite/granite-3.2-8b-instruct', 'On');
    const proc = new OpenAIStreamProcessor({ thinkMarker: true, ...(reasoning.thinkMarkers ? { thinkMarkers: reasoning.thinkMarkers } : {}) });
    const rec = recordOf(proc, [
      [contentChunk('Here is my thought process:\n'), 5],
      [contentChunk('The sea gets minerals from rivers.\n\nHere is my resp'), 8],
      [contentChunk('onse:\n'), 20],
      [contentChunk('Rivers carry salts.', 'stop'), 22],
      ['data: [DONE]\n\n', 23],
    ]);
    expect(rec.ttftMs).toBe(5);
    expect(rec.ttfoMs).toBe(22); // the first visible text after the (split) response marker
    expect(proc.reasoningText.trim()).toBe('The sea gets minerals from rivers.');
  });
});
