#!/usr/bin/env node
// The machine's own floor under any sub-millisecond latency figure: how often, and for how
// long, a thread that never blocks loses its CPU (timer ticks, hypervisor exits, interrupts,
// other tasks), and what one first-touch page fault and one system call cost. No software on the machine can
// deliver an event faster than its thread is allowed to run, so the delivery and TTFT tails
// in bench:native and bench:sse are read against these figures.
//
// Usage: node scripts/machine-floor.mjs [--seconds 1] [--threads 2] [--json]
//   (npm run bench:floor). bench-native.mjs imports measureMachineFloor() and prints its line.
//
// Method: `threads` spinners (this thread plus workers) run at the same time, each reading
// performance.now() in a loop that allocates nothing (no GC, no syscalls), and record every
// gap between two reads above GAP_MS. A gap is time the thread was not running. The phase of
// each gap inside the millisecond (on the monotonic clock, common to all threads) shows a
// periodic thief: on a VM whose host ticks at 1 kHz, most gaps fall in one narrow phase.

import { getPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const GAP_MS = 0.01;
const PHASE_BINS = 20; // 50 µs each
// Spun before measuring, so that the loop runs optimized code (no tier-up compile inside the window).
const WARMUP_MS = 300;

/** Spin for `ms`; gaps above GAP_MS as (start phase bin, length ms). Allocation-free inside the loop. */
function spin(ms) {
  // performance.now()'s origin differs per thread: its offset to the monotonic clock, mod 1 s.
  const offsetMs = Number(process.hrtime.bigint() % 1_000_000_000n) / 1e6 - performance.now();
  const lengths = new Float64Array(200_000);
  const starts = new Float64Array(200_000);
  let n = 0;
  const begin = performance.now();
  const end = begin + ms;
  let prev = begin;
  for (;;) {
    const t = performance.now();
    if (t - prev > GAP_MS && n < lengths.length) {
      starts[n] = prev;
      lengths[n++] = t - prev;
    }
    prev = t;
    if (t >= end) break;
  }
  const phaseBins = new Array(PHASE_BINS).fill(0);
  const gaps = [];
  for (let i = 0; i < n; i++) {
    const phase = ((((starts[i] + offsetMs) % 1) + 1) % 1) * PHASE_BINS;
    phaseBins[Math.floor(phase) % PHASE_BINS]++;
    gaps.push(lengths[i]);
  }
  return { wallMs: prev - begin, gaps, phaseBins };
}

function summarize({ wallMs, gaps, phaseBins }) {
  const over = (limit) => gaps.filter((g) => g > limit);
  const sorted = [...gaps].sort((a, b) => a - b);
  const lost50 = over(0.05).reduce((a, b) => a + b, 0);
  const lostAll = gaps.reduce((a, b) => a + b, 0);
  // The densest 100 µs phase window (two adjacent bins, wrapping) against all gaps.
  let densest = 0;
  for (let i = 0; i < PHASE_BINS; i++) densest = Math.max(densest, phaseBins[i] + phaseBins[(i + 1) % PHASE_BINS]);
  const perS = (k) => (k * 1000) / wallMs;
  return {
    seconds: wallMs / 1000,
    gapsOver10UsPerS: perS(gaps.length),
    gapsOver50UsPerS: perS(over(0.05).length),
    gapsOver1MsPerS: perS(over(1).length),
    gapMedianUs: sorted.length ? sorted[Math.floor(sorted.length / 2)] * 1000 : null,
    gapMaxMs: sorted.length ? sorted[sorted.length - 1] : 0,
    lostShare: lostAll / wallMs,
    lostShareInGapsOver50Us: lost50 / wallMs,
    // Share of gaps that start inside one 100 µs window of every millisecond: ~0.1 for noise
    // spread evenly, near 1 for a periodic 1 kHz thief.
    shareInDensestPhaseWindow: gaps.length ? densest / gaps.length : null,
  };
}

/** Cost of one first-touch page fault: write one byte per 4 KiB page of fresh memory, then again. */
function pageFaultCost(mib = 64) {
  const page = 4096;
  const buf = new Uint8Array(mib * 2 ** 20);
  const touch = () => {
    const t0 = performance.now();
    for (let i = 0; i < buf.length; i += page) buf[i] = 1;
    return performance.now() - t0;
  };
  const first = touch();
  const second = touch();
  const pages = buf.length / page;
  return { pages, firstTouchUsPerPage: ((first - second) * 1000) / pages };
}

/**
 * Cost of one cheap system call made from JS (getpriority through os.getPriority: a thin
 * binding), best of 5 rounds. Every socket read and epoll wait of the client pays it.
 */
function syscallCost(calls = 100_000) {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) getPriority(0);
    best = Math.min(best, ((performance.now() - t0) * 1000) / calls);
  }
  return { usPerCall: best };
}

/**
 * Run `threads` spinners at once for `seconds` (this thread + workers), then the page-fault
 * probe. Per-thread figures; `worst` is the spinner that lost the most time in gaps > 50 µs.
 */
export async function measureMachineFloor({ seconds = 1, threads = 2 } = {}) {
  const ms = seconds * 1000;
  const workers = Array.from({ length: threads - 1 }, () => new Worker(fileURLToPath(import.meta.url), { workerData: { ms } }));
  const results = workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('online', resolve))));
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS + 50)); // the workers' own warm-up
  spin(WARMUP_MS);
  for (const w of workers) w.postMessage('go');
  const here = summarize(spin(ms));
  const spinners = [here, ...(await Promise.all(results)).map(summarize)];
  await Promise.all(workers.map((w) => w.terminate()));
  const worst = spinners.reduce((a, b) => (b.lostShareInGapsOver50Us > a.lostShareInGapsOver50Us ? b : a));
  return { spinners, worst, pageFault: pageFaultCost(), syscall: syscallCost() };
}

export function describeMachineFloor(floor) {
  const w = floor.worst;
  const f = (x, d = 1) => Number(x).toFixed(d);
  return (
    `machine floor (${floor.spinners.length} spinning threads, ${f(w.seconds, 1)} s): the worst-hit thread lost its CPU ` +
    `${f(w.gapsOver10UsPerS, 0)} times/s for > 10 µs (median ${f(w.gapMedianUs)} µs, ${f(100 * w.shareInDensestPhaseWindow, 0)} % in one ` +
    `100 µs phase of the millisecond), ${f(w.gapsOver50UsPerS, 0)} times/s for > 50 µs (${f(100 * w.lostShareInGapsOver50Us, 2)} % of the time), ` +
    `${f(w.gapsOver1MsPerS, 0)} times/s for > 1 ms, max ${f(w.gapMaxMs, 2)} ms; first-touch page fault ${f(floor.pageFault.firstTouchUsPerPage, 2)} µs; one system call from JS ${f(floor.syscall.usPerCall, 2)} µs`
  );
}

if (!isMainThread) {
  parentPort.once('message', () => parentPort.postMessage(spin(workerData.ms)));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' }, threads: { type: 'string', default: '2' }, json: { type: 'boolean', default: false } } });
  const seconds = Number(values.seconds);
  const threads = Number(values.threads);
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds must be in (0, 60], got ${values.seconds}`);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new Error(`--threads must be an integer 1..64, got ${values.threads}`);
  const floor = await measureMachineFloor({ seconds, threads });
  process.stdout.write(`${describeMachineFloor(floor)}\n`);
  for (const [i, s] of floor.spinners.entries()) {
    process.stdout.write(`  thread ${i}: ${Math.round(s.gapsOver10UsPerS)}/s > 10 µs, ${Math.round(s.gapsOver50UsPerS)}/s > 50 µs, ${Math.round(s.gapsOver1MsPerS)}/s > 1 ms, lost ${(100 * s.lostShare).toFixed(2)} % (${(100 * s.lostShareInGapsOver50Us).toFixed(2)} % in gaps > 50 µs), max ${s.gapMaxMs.toFixed(2)} ms\n`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(floor)}\n`);
}
