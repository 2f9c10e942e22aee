// Time-sliced queue for the client's deferrable work (parsing stamped reads, sending requests).
//
// Why: reads are stamped in the poll phase, in each socket's 'data' handler, and any JS that
// runs before the loop gets back to the poll phase delays the stamps of bytes that arrive in
// the meantime. A burst (hundreds of sockets read in one poll phase, a wave of requests sent
// at once) must therefore not run as one long task. The queue runs from setImmediate (check
// phase, right after the poll phase that read the bytes) and stops after SLICE_MS; the rest
// waits for the next loop turn, whose poll phase stamps whatever arrived meanwhile.
//
// Invariant: jobs run once each, in the order they were deferred; a job must not throw.
// A job is a function and the argument it is called with, so a caller can defer a shared
// function for one of its objects without allocating a closure per call.

import { performance } from 'node:perf_hooks';

import { clearKeepingCapacity } from '../../util/clear-array.js';

/** Longest run of deferred jobs between two poll phases (a job in progress is never cut). */
const SLICE_MS = 0.2;

type Job = (arg: unknown) => void;

const jobs: Job[] = [];
const jobArgs: unknown[] = [];
let head = 0;
let scheduled = false;

function noop(): void {}

function runSlice(): void {
  scheduled = false;
  const deadline = performance.now() + SLICE_MS;
  while (head < jobs.length) {
    const job = jobs[head]!;
    const arg = jobArgs[head];
    // Drop the references: the job's closure or argument may hold a whole response.
    jobs[head] = noop;
    jobArgs[head++] = undefined;
    job(arg);
    if (performance.now() >= deadline) break;
  }
  if (head === jobs.length) {
    clearKeepingCapacity(jobs);
    clearKeepingCapacity(jobArgs);
    head = 0;
    return;
  }
  if (head >= 1024) {
    jobs.splice(0, head);
    jobArgs.splice(0, head);
    head = 0;
  }
  schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(runSlice);
}

/** Run `job(arg)` after the current poll phase, within a bounded slice of the event loop. */
export function defer(job: () => void): void;
export function defer<T>(job: (arg: T) => void, arg: T): void;
export function defer(job: Job, arg?: unknown): void {
  jobs.push(job);
  jobArgs.push(arg);
  schedule();
}
