import { describe, expect, it } from 'vitest';
import { OpenAIStreamProcessor, type StreamProcessorOptions } from '../../src/backends/openai/stream-processor.js';
import { buildRecord } from '../../src/backends/openai/record.js';

const MS = 1_000_000n;

/** Feed (data, arrival ms) pairs; returns the processor and its record (start at 0). */
function run(reads: [string, number][], endMs?: number, options: StreamProcessorOptions = {}) {
  const proc = new OpenAIStreamProcessor(options);
  let last = 0n;
  for (const [text, ms] of reads) {
    last = BigInt(ms) * MS;
    if (proc.feed(text, last)) break;
  }
  if (endMs !== undefined) proc.end(BigInt(endMs) * MS);
  const rec = buildRecord(proc, { index: 3, enqueueNs: -2n * MS, startNs: 0n, endNs: last, httpStatus: 200 });
  return { proc, rec };
}

const chunk = (delta: Record<string, unknown>, usage?: number, finish: string | null = null) =>
  `data: ${JSON.stringify({
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...(usage !== undefined ? { usage: { prompt_tokens: 5, completion_tokens: usage, total_tokens: 5 + usage } } : {}),
  })}\n\n`;
const usageOnly = (completion: number, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: completion, ...extra } })}\n\n`;

describe('OpenAIStreamProcessor + buildRecord', () => {
  it('ignores the role-only chunk and the usage-only chunk for timing; reads usage', () => {
    const { rec } = run([
      [chunk({ role: 'assistant', content: '' }, 0), 1],
      [chunk({ content: 'Hel' }, 1), 10],
      [chunk({ content: 'lo' }, 2), 14],
      [chunk({ content: '!' }, 3, 'stop'), 20],
      [usageOnly(3), 21],
      ['data: [DONE]\n\n', 22],
    ]);
    expect(rec.success).toBe(true);
    expect(rec.ttftMs).toBe(10);
    expect(rec.ttfoMs).toBe(10);
    expect(rec.ttstMs).toBe(4);
    expect(rec.e2eMs).toBe(20);
    expect(rec.tpotMs).toBe(5); // (20 − 10) / (3 − 1)
    expect(rec.iclMs).toEqual([4, 6]);
    expect(rec.itlMs).toEqual([4, 6]);
    expect(rec.text).toBe('Hello!');
    expect(rec.promptTokens).toBe(5);
    expect(rec.completionTokens).toBe(3);
    expect(rec.tokenCountSource).toBe('usage');
    expect(rec.finishReason).toBe('stop');
    expect(rec.queueMs).toBe(2);
    expect(rec.warnings).toEqual([]);
  });

  it('counts reasoning as content for TTFT and separates TTFO', () => {
    const { rec } = run([
      [chunk({ role: 'assistant', content: '' }, 0), 1],
      [chunk({ reasoning_content: 'hmm' }, 1), 5],
      [chunk({ reasoning: ' ok' }, 2), 8],
      [chunk({ content: 'Yes' }, 3, 'stop'), 30],
      ['data: [DONE]\n\n', 31],
    ]);
    expect(rec.ttftMs).toBe(5);
    expect(rec.ttfoMs).toBe(30);
    expect(rec.reasoningText).toBe('hmm ok');
    expect(rec.text).toBe('Yes');
    expect(rec.reasoningTokens).toBe(2);
  });

  describe('thinking streamed as content (a server without a reasoning parser)', () => {
    const think = { thinkMarker: true };

    it('TTFO is the first visible content after </think>, even when the marker is split', () => {
      const { rec } = run([
        [chunk({ role: 'assistant', content: '' }, 0), 1],
        [chunk({ content: '<think>' }, 1), 5],
        [chunk({ content: 'hmm ok</th' }, 3), 8],
        [chunk({ content: 'ink>\n\n' }, 5), 12],
        [chunk({ content: 'Yes' }, 6, 'stop'), 30],
        ['data: [DONE]\n\n', 31],
      ], undefined, think);
      expect(rec.ttftMs).toBe(5);
      expect(rec.ttfoMs).toBe(30);
      expect(rec.text).toBe('<think>hmm ok</think>\n\nYes');
      expect(rec.reasoningText).toBe('hmm ok');
      expect(rec.reasoningTokens).toBe(5); // continuous-usage deltas of the chunks before the answer
    });

    it('marker and answer in one chunk', () => {
      const { rec } = run([
        [chunk({ content: 'thinking' }), 5],
        [chunk({ content: '</think>Yes' }, undefined, 'stop'), 9],
        ['data: [DONE]\n\n', 10],
      ], undefined, think);
      expect(rec.ttfoMs).toBe(9);
      expect(rec.reasoningText).toBe('thinking');
    });

    it('no marker at all (thinking skipped or stripped by the server): the content is the answer', () => {
      const { rec } = run([
        [chunk({ content: 'Yes' }), 5],
        [chunk({ content: ' sure' }, undefined, 'stop'), 9],
        ['data: [DONE]\n\n', 10],
      ], undefined, think);
      expect(rec.ttfoMs).toBe(5);
      expect(rec.reasoningText).toBeUndefined();
    });

    it('a server that parses reasoning (reasoning_content) keeps content as the answer', () => {
      const { rec } = run([
        [chunk({ reasoning_content: 'hmm' }), 5],
        [chunk({ content: 'a </think> in the answer' }, undefined, 'stop'), 9],
        ['data: [DONE]\n\n', 10],
      ], undefined, think);
      expect(rec.ttfoMs).toBe(9);
      expect(rec.reasoningText).toBe('hmm');
    });

    it('without reasoning requested, a </think> in content is just text', () => {
      const { rec } = run([
        [chunk({ content: 'x</think>' }), 5],
        [chunk({ content: 'y' }, undefined, 'stop'), 9],
        ['data: [DONE]\n\n', 10],
      ]);
      expect(rec.ttfoMs).toBe(5);
      expect(rec.reasoningText).toBeUndefined();
    });
  });

  it('prefers usage reasoning_tokens when the server reports them', () => {
    const { rec } = run([
      [chunk({ reasoning_content: 'a' }), 5],
      [chunk({ content: 'b' }, undefined, 'stop'), 6],
      [usageOnly(9, { completion_tokens_details: { reasoning_tokens: 7 } }), 7],
      ['data: [DONE]\n\n', 8],
    ]);
    expect(rec.reasoningTokens).toBe(7);
    expect(rec.completionTokens).toBe(9);
  });

  it('treats tool_calls as content-bearing', () => {
    const { rec } = run([
      [chunk({ role: 'assistant', content: '' }, 0), 1],
      [chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '' } }] }, 1, 'tool_calls'), 9],
      ['data: [DONE]\n\n', 10],
    ]);
    expect(rec.ttftMs).toBe(9);
    expect(rec.finishReason).toBe('tool_calls');
  });

  it('splits ITL over multi-token chunks and warns', () => {
    const { rec } = run([
      [chunk({ content: 'ab' }, 2), 10],
      [chunk({ content: 'cdef' }, 6), 18],
      [chunk({ content: 'g' }, 7, 'length'), 20],
      ['data:[DONE]\n\n', 21],
    ]);
    expect(rec.iclMs).toEqual([8, 2]);
    expect(rec.itlMs).toEqual([2, 2, 2, 2, 2]);
    expect(rec.tokensPerChunk).toBeCloseTo(7 / 3);
    expect(rec.perChunkTokensKnown).toBe(true);
    expect(rec.warnings.join(' ')).toMatch(/tokens per chunk/);
    expect(rec.tpotMs).toBeCloseTo(10 / 6);
  });

  it('uses a new-token usage delta as content even with empty text (continuous usage)', () => {
    const { rec } = run([
      [chunk({ role: 'assistant', content: '' }, 0), 1],
      [chunk({ content: '' }, 1), 4],
      [chunk({ content: 'x' }, 2, 'stop'), 6],
      ['data: [DONE]\n\n', 7],
    ]);
    expect(rec.ttftMs).toBe(4);
  });

  it('usage only on the finish chunk (choices present) is a total, not continuous usage', () => {
    // llama.cpp (before mid-2025) and llama-cpp-python put the final usage on the finish chunk.
    const { rec } = run([
      [chunk({ content: 'a' }), 3],
      [chunk({ reasoning_content: 'b' }), 5],
      [chunk({ content: 'c' }), 9],
      [chunk({}, 30, 'stop'), 10],
      ['data: [DONE]\n\n', 11],
    ]);
    expect(rec.success).toBe(true);
    expect(rec.completionTokens).toBe(30);
    expect(rec.iclMs).toEqual([2, 4]); // the finish chunk carries no content
    expect(rec.itlMs).toEqual([2, 4]);
    expect(rec.e2eMs).toBe(9);
    expect(rec.perChunkTokensKnown).toBe(false);
    expect(rec.reasoningTokens).toBeNull();
    expect(rec.warnings.join(' ')).toMatch(/per-chunk usage|one token per chunk/);
  });

  it('without continuous usage assumes one token per chunk and says so', () => {
    const { rec } = run([
      [chunk({ content: 'a' }), 3],
      [chunk({ content: 'b' }), 5],
      [chunk({ content: 'c' }, undefined, 'stop'), 9],
      [usageOnly(3), 10],
      ['data:   [DONE]  \n\n', 11],
    ]);
    expect(rec.success).toBe(true);
    expect(rec.completionTokens).toBe(3);
    expect(rec.perChunkTokensKnown).toBe(false);
    expect(rec.itlMs).toEqual([2, 4]);
    expect(rec.warnings.join(' ')).toMatch(/one token per chunk/);
  });

  it('reads the completions API (text)', () => {
    const c = (text: string, n: number, fr: string | null = null) =>
      `data: ${JSON.stringify({ object: 'text_completion', choices: [{ index: 0, text, finish_reason: fr }], usage: { prompt_tokens: 2, completion_tokens: n } })}\n\n`;
    const { rec } = run([
      [c('', 0), 1],
      [c('x', 1), 7],
      [c('y', 2, 'length'), 9],
      ['data: [DONE]\n\n', 10],
    ]);
    expect(rec.ttftMs).toBe(7);
    expect(rec.text).toBe('xy');
    expect(rec.finishReason).toBe('length');
  });

  it('fails on `data: {"error": …}` inside a 200 stream with the server message', () => {
    const { rec } = run([
      [chunk({ content: 'a' }, 1), 3],
      [`data: ${JSON.stringify({ error: { object: 'error', message: 'CUDA out of memory', type: 'InternalServerError' } })}\n\n`, 4],
    ]);
    expect(rec.success).toBe(false);
    expect(rec.error).toMatch(/CUDA out of memory/);
    expect(rec.ttftMs).toBe(3); // what was observed is kept
  });

  it('fails on `event: error`', () => {
    const { rec } = run([[`event: error\ndata: {"message":"overloaded","object":"error"}\n\n`, 4]]);
    expect(rec.success).toBe(false);
    expect(rec.error).toMatch(/error event: overloaded/);
  });

  it('fails on malformed JSON, naming it', () => {
    const { rec } = run([[`data: {"choices": [\n\n`, 4]]);
    expect(rec.success).toBe(false);
    expect(rec.error).toMatch(/malformed JSON in stream event: \{"choices": \[/);
  });

  it('a stream closed before [DONE] fails unless a finish_reason was seen', () => {
    const broken = run([[chunk({ content: 'a' }, 1), 3]], 5);
    expect(broken.rec.success).toBe(false);
    expect(broken.rec.error).toMatch(/closed before \[DONE\].*1 content chunk/);
    const finished = run([[chunk({ content: 'a' }, 1, 'stop'), 3]], 5);
    expect(finished.rec.success).toBe(true);
    expect(finished.proc.outcome).toMatchObject({ state: 'done', viaDoneMarker: false });
  });

  it('ignores events after [DONE] and an unfinished processor is reported as such', () => {
    const { proc } = run([[`data: [DONE]\n\n${chunk({ content: 'late' }, 1)}`, 2]]);
    expect(proc.text).toBe('');
    const open = buildRecord(new OpenAIStreamProcessor(), { index: 0, enqueueNs: 0n, startNs: 0n, endNs: 1n, httpStatus: 200 });
    expect(open.success).toBe(false);
    expect(open.ttftMs).toBeNull();
    expect(open.completionTokens).toBeNull();
  });

  it('labels a tokenizer fallback when the server sends no usage', () => {
    const proc = new OpenAIStreamProcessor();
    proc.feed(chunk({ content: 'a b c' }, undefined, 'stop'), 3n * MS);
    proc.feed('data: [DONE]\n\n', 4n * MS);
    const rec = buildRecord(proc, {
      index: 0,
      enqueueNs: 0n,
      startNs: 0n,
      endNs: 4n * MS,
      httpStatus: 200,
      countTokens: (t) => t.split(' ').length,
    });
    expect(rec.completionTokens).toBe(3);
    expect(rec.tokenCountSource).toBe('tokenizer');
    expect(rec.warnings.join(' ')).toMatch(/client tokenizer/);
  });
});

describe('TTFT stamp slack in the record', () => {
  const MS = 1_000_000n;
  const content = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'hi' } }] })}\n\n`;

  it("is the first content read's slack, capped at the TTFT (bytes cannot precede the request)", () => {
    const proc = new OpenAIStreamProcessor();
    proc.feed(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant' } }] })}\n\n`, 2n * MS, 50);
    proc.feed(content, 40n * MS, 7.5);
    proc.feed('data: [DONE]\n\n', 41n * MS, 0.1);
    const rec = buildRecord(proc, { index: 0, enqueueNs: 0n, startNs: 0n, endNs: 41n * MS, httpStatus: 200 });
    expect(rec.ttftMs).toBe(40);
    expect(rec.ttftSlackMs).toBe(7.5);
    // A busy spell before the request went out (slack 100 ms, TTFT 5 ms) is no lateness.
    const early = new OpenAIStreamProcessor();
    early.feed(content, 5n * MS, 100);
    early.feed('data: [DONE]\n\n', 6n * MS, 0);
    expect(buildRecord(early, { index: 0, enqueueNs: 0n, startNs: 0n, endNs: 6n * MS, httpStatus: 200 }).ttftSlackMs).toBe(5);
  });

  it('is null when the caller gave no slack', () => {
    const plain = new OpenAIStreamProcessor();
    plain.feed(content, 3n * MS);
    expect(buildRecord(plain, { index: 0, enqueueNs: 0n, startNs: 0n, endNs: 3n * MS, httpStatus: 200 }).ttftSlackMs).toBeNull();
  });
});
