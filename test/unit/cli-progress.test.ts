import { describe, expect, it } from 'vitest';

import type { RequestRecord } from '../../src/backends/types.js';
import { requestLine } from '../../src/cli/progress.js';

const base: RequestRecord = {
  index: 7, success: true, startNs: 0n, endNs: 1n, queueMs: 0, ttftMs: 123.45678, ttfoMs: null, ttstMs: null, e2eMs: 2500,
  tpotMs: null, itlMs: [], iclMs: [], promptTokens: 10, completionTokens: 32, tokenCountSource: 'engine', text: '',
};

describe('per-prompt log line', () => {
  it('prints TTFT and total time in seconds with the token count', () => {
    expect(requestLine(base)).toBe('prompt 7: TTFT 0.1235 s, total 2.5000 s, 32 tokens');
  });
  it('marks warmup requests and shows unknown values as n/a, failures with their error', () => {
    expect(requestLine({ ...base, warmup: true, ttftMs: null, completionTokens: null })).toBe('warmup prompt 7: TTFT n/a, total 2.5000 s, n/a tokens');
    expect(requestLine({ ...base, success: false, error: 'HTTP 500: boom' })).toBe('prompt 7: FAILED (HTTP 500: boom)');
  });
});
