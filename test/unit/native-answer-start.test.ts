import { describe, expect, it } from 'vitest';

import { AnswerStartTracker } from '../../src/backends/native.js';
import type { GenerationResult } from '../../src/engine/index.js';
import { GRANITE_THINK_MARKERS } from '../../src/formatters/prepare.js';

function feed(deltas: string[]): AnswerStartTracker {
  const tracker = new AnswerStartTracker();
  deltas.forEach((d, i) => tracker.observe(d, i));
  return tracker;
}

const result = (n: number): GenerationResult => ({
  ids: [], tokenNs: Array.from({ length: n }, (_, i) => 1_000_000n * BigInt(i + 2)), startNs: 0n, prefillDoneNs: 500_000n,
  endNs: 1_000_000n * BigInt(n + 1), promptTokens: 3, stopReason: 'max_new_tokens', ttftMs: 2, prefillMs: 0.5, totalMs: n + 1, tokensPerSecond: 1000,
});

describe('AnswerStartTracker (TTFO of native reasoning runs)', () => {
  it('takes the first visible token after </think>, skipping whitespace-only tokens', () => {
    const t = feed(['<think>', 'hmm', '</', 'think>', '\n\n', 'The', ' answer']);
    expect(t.ttfoMs(result(7))).toBe(7); // token 5 stamped at 7 ms
    expect(t.reasoningText('<think>hmm</think>\n\nThe answer')).toBe('hmm');
  });

  it("a format's own markers, any of its close phrasings, split across tokens (Granite: \"Here's my response:\")", () => {
    const t = new AnswerStartTracker(GRANITE_THINK_MARKERS);
    ['Here is my thought process:', ' salt', " Here's my res", 'ponse:', ' ', 'Rivers'].forEach((d, i) => t.observe(d, i));
    expect(t.ttfoMs(result(6))).toBe(7); // token 5 stamped at 7 ms
    expect(t.reasoningText("Here is my thought process: salt Here's my response: Rivers")?.trim()).toBe('salt');
  });

  it('handles a marker and answer text arriving in one token', () => {
    const t = feed(['thinking', '</think>Yes']);
    expect(t.ttfoMs(result(2))).toBe(3);
  });

  it('leaves TTFO unknown when the model never stops thinking', () => {
    const t = feed(['<think>', 'still', ' going']);
    expect(t.ttfoMs(result(3))).toBeNull();
    // All of it is thinking (cut off before </think>), and it is kept as the reasoning text.
    expect(t.reasoningText('<think>still going')).toBe('still going');
  });
});
