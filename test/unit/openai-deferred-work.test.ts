import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { defer } from '../../src/backends/openai/deferred-work.js';

/** Keeps the thread busy for `ms` (stands in for parsing a large batch of reads). */
function work(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* busy on purpose, briefly */
  }
}

function drained(): Promise<void> {
  return new Promise((resolve) => defer(resolve));
}

describe('defer (time-sliced client work)', () => {
  it('runs every job once, in the order deferred, including jobs deferred by jobs', async () => {
    const seen: string[] = [];
    defer(() => {
      seen.push('a');
      defer(() => seen.push('c'));
    });
    defer(() => seen.push('b'));
    await drained();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('calls a job with its argument, and interleaves argument and closure jobs in order', async () => {
    const seen: string[] = [];
    const record = (tag: string): void => {
      seen.push(tag);
    };
    defer(record, 'first');
    defer(() => seen.push('closure'));
    defer(record, 'last');
    await drained();
    expect(seen).toEqual(['first', 'closure', 'last']);
  });

  it('lets the event loop go round between slices, so a long backlog does not block it', async () => {
    const N = 20;
    let ran = 0;
    let jobsDoneWhenTimerFired = -1;
    for (let i = 0; i < N; i++) {
      defer(() => {
        if (i === 0) setTimeout(() => (jobsDoneWhenTimerFired = ran), 0);
        work(0.3); // longer than a slice: one job per loop turn
        ran++;
      });
    }
    await drained();
    expect(ran).toBe(N);
    // Run as one task, the timer (due 1 ms after job 0) could only fire after all N jobs (6 ms).
    expect(jobsDoneWhenTimerFired).toBeGreaterThan(0);
    expect(jobsDoneWhenTimerFired).toBeLessThan(N);
  });
});
