import { describe, expect, it } from 'vitest';
import { calibrateClient } from '../../src/backends/openai/index.js';

describe('calibrateClient', () => {
  it('measures the client-added TTFT floor and event-loop delay against an in-process emulator', async () => {
    const cal = await calibrateClient({ requests: 60, concurrency: 4, firstTokenDelayMs: 1 });
    expect(cal.failed).toBe(0);
    expect(cal.clientAddedTtftMs.n).toBe(60);
    // the client cannot see a token before it is written; the figure itself is the benchmark's
    // business (a loaded CI machine inflates it), here it only has to be a sane measurement
    expect(cal.clientAddedTtftMs.min!).toBeGreaterThanOrEqual(0);
    expect(cal.clientAddedTtftMs.p50!).toBeLessThan(100);
    expect(cal.clientAddedTtftMs.p99!).toBeGreaterThanOrEqual(cal.clientAddedTtftMs.p50!);
    expect(cal.eventLoopDelayMs.n).toBeGreaterThan(0);
    expect(cal.eventLoopDelayMs.p99!).toBeGreaterThan(0);
    expect(cal.description).toMatch(/client-added TTFT/);
  });

  it('rejects bad options', async () => {
    await expect(calibrateClient({ requests: 0 })).rejects.toThrow(/requests must be a positive integer/);
  });
});
