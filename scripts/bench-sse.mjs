#!/usr/bin/env node
// SSE client benchmark: client-added TTFT at concurrency 1 / 256 / 1,024 against the emulator
// running in a child process on 127.0.0.1, and SSE events parsed per second on one core; our
// client side by side with the official `openai` package.
//
// Client-added TTFT = client's first-content stamp − the emulator's stamp taken just before it
// wrote that token. The emulator puts its stamp in the first token's text; both processes read
// CLOCK_MONOTONIC (process.hrtime.bigint()), so the stamps compare.
//
// Usage: npm run build && npm run bench:sse [-- --json out.json] [--quick] [--aeb-only] [--emulator-nice N]
//        [--levels 1,256,1024]           (concurrency levels to measure; default all three)
//        [--no-parse]                    (skip the parse-throughput part)
//        [--socket-thread worker,main]   (our client's socket placements to measure; default both)
//        [--server lean|emulator]        (stand-in server: raw-net bench server (default) or the test emulator)
//        [--pin]                         (server on the last CPU, this process on the others (taskset): a
//                                         server on cores of its own, as on a real deployment)
//        [--server-policy nice|idle]     (server at nice N (default) or SCHED_IDLE via chrt: it then runs
//                                         only on cycles the client leaves, and its stream timing gets bursty)
// --aeb-only skips the openai-package rows (faster iteration; the published table keeps them).
// AEB_DIST=<dir> points at another tsc output directory (default: <repo>/dist).

import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, setPriority } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.env.AEB_DIST ?? join(repo, 'dist'));

async function loadDist() {
  try {
    return await import(pathToFileURL(join(dist, 'backends/openai/index.js')).href);
  } catch (err) {
    console.error(`bench-sse: cannot load ${dist}/backends/openai/index.js (${err.message}); run "npm run build" first or set AEB_DIST`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------- emulator (child process)

async function runEmulatorChild(kind) {
  if (kind === 'lean') {
    const { startLeanSseServer } = await import('./bench-sse-server.mjs');
    const server = await startLeanSseServer();
    process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
    process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
    process.stdin.on('end', () => server.close().then(() => process.exit(0)));
    process.stdin.resume();
    return;
  }
  const { startOpenAIEmulator, encodeEvent } = await loadDist();
  const model = 'bench-model';
  const chunk = (choice, completion) =>
    JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model,
      choices: [{ index: 0, logprobs: null, ...choice }],
      usage: { prompt_tokens: 12, completion_tokens: completion, total_tokens: 12 + completion },
    });
  const role = encodeEvent(chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null }, 0));
  const tokenEvents = Array.from({ length: 4097 }, (_, i) => encodeEvent(chunk({ delta: { content: ' t' }, finish_reason: null }, i)));
  const emu = await startOpenAIEmulator({
    keepLog: false,
    models: [{ id: model }],
    respond: (req) => {
      const b = req.body ?? {};
      const n = Math.max(2, Math.min(4096, Number(b.max_tokens ?? 8)));
      const itl = Number(b.bench_itl_ms ?? 10);
      const [lo, hi] = b.bench_first_ms ?? [5, 20];
      const steps = [{ write: role }];
      // Token 1 carries the stamp taken just before its write; token 2 carries the stamp taken
      // once that write was in the kernel (the bytes were then in the client's socket).
      let flushedNs = 0n;
      steps.push({
        delayMs: lo + Math.random() * (hi - lo),
        firstToken: true,
        write: (ns) => encodeEvent(chunk({ delta: { content: `${ns}|` }, finish_reason: null }, 1)),
        onFlushed: (ns) => {
          flushedNs = ns;
        },
      });
      steps.push({ delayMs: itl, write: () => encodeEvent(chunk({ delta: { content: `${flushedNs}|` }, finish_reason: null }, 2)) });
      for (let i = 3; i < n; i++) steps.push({ delayMs: itl, write: tokenEvents[i] });
      steps.push({ delayMs: itl, write: encodeEvent(chunk({ delta: { content: ' end' }, finish_reason: 'length' }, n)) });
      steps.push({ write: encodeEvent(JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', model, choices: [], usage: { prompt_tokens: 12, completion_tokens: n, total_tokens: 12 + n } })) });
      steps.push({ write: 'data: [DONE]\n\n' });
      return { steps };
    },
  });
  process.stdout.write(`${JSON.stringify({ url: emu.url })}\n`);
  process.on('SIGTERM', () => emu.close().then(() => process.exit(0)));
  process.stdin.on('end', () => emu.close().then(() => process.exit(0)));
  process.stdin.resume();
}

// The emulator stands in for a server on another machine, but here it shares the 2 cores with
// the client: at nice > 0 it yields the CPU to the client when both are runnable, so the
// figures measure the client rather than the co-located server's CPU use. Its stamp is taken
// immediately before its write, so its own scheduling delays are not counted.
function startEmulatorProcess(nice, kind, schedIdle) {
  const argv = [process.execPath, fileURLToPath(import.meta.url), '--emulator', kind];
  // SCHED_IDLE: the server runs only on cycles no other task wants (util-linux chrt execs node).
  const command = schedIdle ? ['chrt', '--idle', '0', ...argv] : argv;
  const child = spawn(command[0], command.slice(1), {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, AEB_DIST: dist },
  });
  if (nice !== 0) setPriority(child.pid, nice);
  return new Promise((resolveUrl, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolveUrl({ child, url: JSON.parse(buf.slice(0, nl)).url });
    });
    child.once('exit', (code) => reject(new Error(`emulator child exited with ${code}`)));
  });
}

/** The CPUs this process may run on (its affinity mask, e.g. under taskset or a cgroup), in order. */
function allowedCpus() {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
  if (!line) return cpus().map((_, i) => i);
  return line.slice(line.indexOf(':') + 1).trim().split(',').flatMap((part) => {
    const [lo, hi = lo] = part.split('-').map(Number);
    return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  });
}

/** Restrict every thread of `pid` (existing ones; new ones inherit it) to `cpuList`, e.g. "0-2". */
function pinProcess(pid, cpuList) {
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

// ---------------------------------------------------------------- load

async function pool(total, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** A thread's time on a CPU and waiting for one (runnable, not running), ns (Linux schedstat). */
function threadSched(tid) {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return { run, wait };
  } catch {
    return null;
  }
}

/** CPU time of every thread of a process, ns (the emulator child's load on the shared cores). */
let emulatorPid = null;
function processCpuNs(pid) {
  if (pid === null) return null;
  try {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return total;
  } catch {
    return null;
  }
}

/** Scheduler statistics of the main thread and (for our client) the socket thread. */
function schedSnapshot(lib, placement) {
  const tid = placement === 'worker' ? lib.socketThread('worker').tid : null;
  return { main: threadSched(process.pid), sockets: tid === null ? null : threadSched(tid), emulatorNs: processCpuNs(emulatorPid) };
}

function schedShares(a, b, wallS) {
  const share = (x, y, k) => (x && y ? (y[k] - x[k]) / 1e9 / wallS : null);
  return {
    runQueueWaitShare: share(a.main, b.main, 'wait'),
    mainCpuShare: share(a.main, b.main, 'run'),
    socketThreadWaitShare: share(a.sockets, b.sockets, 'wait'),
    socketThreadCpuShare: share(a.sockets, b.sockets, 'run'),
    emulatorCpuShare: a.emulatorNs !== null && b.emulatorNs !== null ? (b.emulatorNs - a.emulatorNs) / 1e9 / wallS : null,
  };
}

// Where the tail comes from: a sample is "late" when the client adds more than LATE_MS. Late
// samples whose [server write, client stamp] window overlaps a GC pause are counted apart; the
// main thread's run-queue wait (runnable but preempted) shows CPU contention on the machine.
const LATE_MS = 1;
const warmupIdx = process.argv.indexOf('--warmup-rounds');
const WARMUP_ROUNDS = warmupIdx >= 0 ? Number(process.argv[warmupIdx + 1]) : 1;
if (!Number.isInteger(WARMUP_ROUNDS) || WARMUP_ROUNDS < 1) {
  console.error(`bench-sse: --warmup-rounds takes a positive integer (got ${process.argv[warmupIdx + 1]})`);
  process.exit(2);
}

async function measureLevel(lib, name, level, placement, oneRequest) {
  // Warm-up round: opens the connections (excluded, as the runner excludes warmup requests).
  // WARMUP_ROUNDS > 1 also lets the heap reach its steady size before the measured phase.
  await pool(level.concurrency * WARMUP_ROUNDS, level.concurrency, (i) => oneRequest(i));
  const added = [];
  const slack = [];
  const afterFlush = [];
  const emulatorWrite = [];
  const late = [];
  let failed = 0;
  const gcs = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration, e.detail?.kind ?? 0]);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  // performance.now() = hrtime ms − originMs (both monotonic).
  const originMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const cpu0 = process.cpuUsage();
  const ru0 = process.resourceUsage();
  const sched0 = schedSnapshot(lib, placement);
  const t0 = process.hrtime.bigint();
  loop.enable();
  await pool(level.requests, level.concurrency, async (i) => {
    const r = await oneRequest(i);
    if (r === null) failed++;
    else {
      added.push(r.addedMs);
      afterFlush.push(r.afterFlushMs);
      emulatorWrite.push(r.emulatorWriteMs);
      if (r.addedMs > LATE_MS) late.push(r);
      if (typeof r.slackMs === 'number') slack.push(r.slackMs);
    }
  });
  loop.disable();
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const sched1 = schedSnapshot(lib, placement);
  const ru1 = process.resourceUsage();
  await new Promise((r) => setImmediate(r)); // deliver the last gc entries
  gcObserver.disconnect();
  const lateDuringGc = late.filter((r) => {
    const endMs = Number(r.clientNs) / 1e6 - originMs;
    const startMs = endMs - r.addedMs;
    return gcs.some(([a, b]) => a < endMs && b > startMs);
  }).length;
  const gcMs = gcs.map(([a, b]) => b - a);
  const chunks = level.requests * (level.tokens + 3);
  return {
    lateSamples: late.length,
    // Late samples whose own stamp slack (client busy when the bytes may have arrived) covers
    // most of their lateness: the client's measurement flagged them itself.
    lateFlagged: late.filter((r) => typeof r.slackMs === 'number' && r.slackMs >= r.addedMs - LATE_MS / 2).length,
    stampSlackMs: lib.quantiles(slack),
    // When the late samples happened, ms after the measured phase began (a start-up burst or spread out).
    lateAtMs: lib.quantiles(late.map((r) => Number(r.clientNs - t0) / 1e6)),
    lateDuringGc,
    gcPauses: {
      count: gcMs.length,
      totalMs: gcMs.reduce((x, y) => x + y, 0),
      maxMs: gcMs.length ? Math.max(...gcMs) : 0,
      // perf_hooks kinds: 1 minor (scavenge), 2 major, 4 incremental marking, 8 weak callbacks
      maxMsByKind: Object.fromEntries([1, 2, 4, 8].map((k) => [k, Math.max(0, ...gcs.filter((g) => g[2] === k).map(([a, b]) => b - a))])),
      heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    },
    ...schedShares(sched0, sched1, wallS),
    involuntaryContextSwitches: ru1.involuntaryContextSwitches - ru0.involuntaryContextSwitches,
    // First touches of fresh pages by this process (every thread), mostly V8 promoting survivors
    // onto new old-space pages during scavenges: on a VM where a fault costs tens of µs, they
    // are most of each pause (BENCHMARKS.md).
    minorPageFaults: ru1.minorPageFault - ru0.minorPageFault,
    client: name,
    concurrency: level.concurrency,
    requests: level.requests,
    failed,
    clientAddedTtftMs: lib.quantiles(added),
    clientAddedAfterFlushMs: lib.quantiles(afterFlush),
    emulatorWriteMs: lib.quantiles(emulatorWrite),
    eventLoopDelayP99Ms: loop.percentile(99) / 1e6,
    chunksPerS: Math.round(chunks / wallS),
    cpuUsPerChunk: (cpu.user + cpu.system) / chunks,
    wallS,
  };
}

/**
 * Client-added TTFT of one request from the emulator's two stamps in the text: before the
 * first token's write (the reference: conservative, it includes the stand-in server's own
 * write), and once that write was in the kernel (`afterFlushMs`: a lower bound, negative when
 * the client read the bytes before the emulator's write call returned). `emulatorWriteMs` is
 * the gap between the two stamps: the write call, which on this VM includes waking the
 * client's vCPU, and any preemption of the emulator on the shared cores.
 */
function serverStamps(text, clientNs) {
  const [pre, post] = text.split('|', 2).map((x) => BigInt(x.trim()));
  return { addedMs: Number(clientNs - pre) / 1e6, afterFlushMs: Number(clientNs - post) / 1e6, emulatorWriteMs: Number(post - pre) / 1e6, clientNs };
}

function benchBody(level) {
  return { bench_itl_ms: level.itlMs, bench_first_ms: level.firstMs };
}

async function ourClient(lib, url, level, placement) {
  const backend = lib.createOpenAIBackend({
    endpoint: `${url}/v1`,
    maxSockets: level.concurrency,
    requestTimeoutMs: 60_000,
    extraBody: benchBody(level),
    socketThread: placement,
  });
  await backend.open();
  const settings = { maxNewTokens: level.tokens, minNewTokens: 0, temperature: 0 };
  try {
    return await measureLevel(lib, `aeb (${placement})`, level, placement, async (i) => {
      const rec = await backend.generate({ index: i, text: `r${i}` }, settings);
      if (!rec.success || rec.ttftMs === null) return null;
      const clientNs = rec.startNs + BigInt(Math.round(rec.ttftMs * 1e6));
      return { ...serverStamps(rec.text, clientNs), slackMs: rec.ttftSlackMs ?? null };
    });
  } finally {
    await backend.close();
  }
}

async function sdkClient(lib, OpenAI, url, level) {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'bench', maxRetries: 0, timeout: 60_000 });
  return measureLevel(lib, 'openai package', level, null, async (i) => {
    try {
      const stream = await client.chat.completions.create({
        model: 'bench-model',
        messages: [{ role: 'user', content: `r${i}` }],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: level.tokens,
        ...benchBody(level),
      });
      let clientNs = null;
      let text = '';
      for await (const chunk of stream) {
        const content = chunk.choices[0]?.delta?.content;
        if (clientNs === null && content) clientNs = process.hrtime.bigint();
        if (content) text += content;
      }
      return clientNs === null ? null : serverStamps(text, clientNs);
    } catch {
      return null;
    }
  });
}

/** Event-loop delay of an idle process over `ms`: how much the machine itself delays us. */
async function idleProbe(ms) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, ms));
  h.disable();
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

// ---------------------------------------------------------------- parse throughput

function vllmPayload(events) {
  const parts = [];
  for (let i = 0; i < events; i++) {
    parts.push(
      `data: ${JSON.stringify({ id: 'chatcmpl-8f3a', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'Qwen/Qwen3-8B', choices: [{ index: 0, delta: { content: ' token' }, logprobs: null, finish_reason: null }], usage: { prompt_tokens: 369, total_tokens: 370 + i, completion_tokens: i + 1 } })}\n\n`,
    );
  }
  parts.push('data: [DONE]\n\n');
  const all = Buffer.from(parts.join(''));
  const reads = [];
  for (let i = 0; i < all.length; i += 16 * 1024) reads.push(all.subarray(i, i + 16 * 1024));
  return { reads, bytes: all.length };
}

/** Runs `fn` `runs` times; events/s of the fastest run and of the median one (a noisy VM moves both). */
async function bestOf(runs, fn) {
  const seconds = [];
  let count = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    count = await fn();
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  seconds.sort((x, y) => x - y);
  const median = seconds[seconds.length >> 1];
  return { events: count, seconds: seconds[0], eventsPerS: Math.round(count / seconds[0]), medianEventsPerS: Math.round(count / median) };
}

const PARSE_RUNS = 7;

async function parseThroughput(lib, sdkStreaming, events) {
  const { reads, bytes } = vllmPayload(events);
  const { SseParser } = await import(pathToFileURL(join(dist, 'sse/index.js')).href);
  const body = () =>
    new Response(
      new ReadableStream({
        start(c) {
          for (const r of reads) c.enqueue(r);
          c.close();
        },
      }),
    );
  const out = { payloadMiB: bytes / 2 ** 20, readSizeKiB: 16 };
  out['aeb SseParser (SSE only)'] = await bestOf(PARSE_RUNS, async () => {
    const p = new SseParser();
    let n = 0;
    for (const r of reads) n += p.feed(r).length;
    return n + p.end().length;
  });
  out['aeb OpenAIStreamProcessor (SSE + JSON + stamps)'] = await bestOf(PARSE_RUNS, async () => {
    const proc = new lib.OpenAIStreamProcessor();
    for (const r of reads) proc.feed(r, process.hrtime.bigint());
    return proc.events;
  });
  out['openai _iterSSEMessages (SSE only)'] = await bestOf(PARSE_RUNS, async () => {
    let n = 0;
    for await (const _ of sdkStreaming._iterSSEMessages(body(), new AbortController())) n++;
    return n;
  });
  out['openai Stream (SSE + JSON)'] = await bestOf(PARSE_RUNS, async () => {
    let n = 0;
    for await (const _ of sdkStreaming.Stream.fromSSEResponse(body(), new AbortController())) n++;
    return n + 1; // + [DONE], which the SDK swallows
  });
  return out;
}

// ---------------------------------------------------------------- main

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--emulator')) return runEmulatorChild(args[args.indexOf('--emulator') + 1]);
  const quick = args.includes('--quick');
  const aebOnly = args.includes('--aeb-only');
  const niceIdx = args.indexOf('--emulator-nice');
  const emulatorNice = niceIdx >= 0 ? Number(args[niceIdx + 1]) : 10;
  if (!Number.isInteger(emulatorNice) || emulatorNice < 0 || emulatorNice > 19) {
    console.error(`bench-sse: --emulator-nice takes an integer 0..19 (got ${args[niceIdx + 1]})`);
    process.exit(2);
  }
  const jsonIdx = args.indexOf('--json');
  // The stand-in server: 'lean' (raw net, bench-sse-server.mjs) or 'emulator' (the scripted
  // node:http test emulator, heavier on the shared cores).
  const serverIdx = args.indexOf('--server');
  const serverKind = serverIdx >= 0 ? args[serverIdx + 1] : 'lean';
  if (serverKind !== 'lean' && serverKind !== 'emulator') {
    console.error(`bench-sse: --server takes lean or emulator (got ${serverKind})`);
    process.exit(2);
  }
  // Scheduling class of the stand-in server: 'idle' (SCHED_IDLE, via chrt) or 'nice' (nice N only).
  const policyIdx = args.indexOf('--server-policy');
  const serverIdle = (policyIdx >= 0 ? args[policyIdx + 1] : 'nice') === 'idle';
  // Where our client's sockets live: its own socket thread (default) and/or the main thread.
  const placeIdx = args.indexOf('--socket-thread');
  const placements = placeIdx >= 0 ? args[placeIdx + 1].split(',') : ['worker', 'main'];
  const lib = await loadDist();
  const { default: OpenAI } = await import('openai');
  const sdkStreaming = await import('openai/core/streaming');

  // Aggregate chunk rate kept near what a loaded server emits (ITL grows with concurrency).
  const allLevels = [
    { concurrency: 1, requests: quick ? 30 : 200, tokens: 8, itlMs: 10, firstMs: [5, 20] },
    { concurrency: 256, requests: quick ? 256 : 1024, tokens: 16, itlMs: 25, firstMs: [10, 100] },
    { concurrency: 1024, requests: quick ? 1024 : 3072, tokens: 16, itlMs: 50, firstMs: [20, 200] },
  ];
  const levelsIdx = args.indexOf('--levels');
  const wanted = levelsIdx >= 0 ? String(args[levelsIdx + 1]).split(',').map(Number) : allLevels.map((l) => l.concurrency);
  const unknown = wanted.filter((c) => !allLevels.some((l) => l.concurrency === c));
  if (unknown.length) {
    console.error(`bench-sse: --levels takes concurrencies from ${allLevels.map((l) => l.concurrency).join(',')} (got ${args[levelsIdx + 1]})`);
    process.exit(2);
  }
  const levels = allLevels.filter((l) => wanted.includes(l.concurrency));
  const started = Date.now();
  const loadBefore = loadavg();
  const idleLoopDelayMs = await idleProbe(2_000);
  // Both vCPUs busy, as client and server keep them at 256+ streams: how often this machine takes one away.
  const { measureMachineFloor, describeMachineFloor } = await import('./machine-floor.mjs');
  const machineFloor = await measureMachineFloor({ seconds: 1, threads: 2 });
  const { child, url } = await startEmulatorProcess(emulatorNice, serverKind, serverIdle);
  emulatorPid = child.pid;
  // --pin: the server gets the last CPU this process may use to itself, this process the others.
  const usable = allowedCpus();
  if (args.includes('--pin') && usable.length < 2) throw new Error(`--pin needs at least 2 usable CPUs; this process may run on ${usable.join(',')}`);
  const pinned = args.includes('--pin') ? { server: String(usable.at(-1)), client: usable.slice(0, -1).join(',') } : null;
  if (pinned) {
    pinProcess(child.pid, pinned.server);
    pinProcess(process.pid, pinned.client);
  }
  const latency = [];
  try {
    for (const level of levels) {
      for (const placement of placements) {
        latency.push({ ...(await ourClient(lib, url, level, placement)), itlMs: level.itlMs, tokens: level.tokens });
      }
      if (!aebOnly) latency.push({ ...(await sdkClient(lib, OpenAI, url, level)), itlMs: level.itlMs, tokens: level.tokens });
    }
  } finally {
    child.stdin.end();
    child.kill('SIGTERM');
  }
  const parse = args.includes('--no-parse') ? {} : await parseThroughput(lib, sdkStreaming, quick ? 50_000 : 200_000);

  const f = (x, d = 3) => (x === null || x === undefined ? '—' : x.toFixed(d));
  const where = pinned ? `, pinned: server on CPU ${pinned.server}, client on CPU ${pinned.client}` : '';
  console.log(`\nClient-added TTFT (client first-content stamp − emulator write stamp), emulator in a child process on 127.0.0.1 at nice ${emulatorNice}${where}`);
  console.log('client              conc  reqs  fail   p50 ms   p90 ms   p99 ms   max ms  loop p99 ms  chunks/s  CPU µs/chunk  main cpu/wait  sockets cpu/wait  emulator cpu  late>1ms (in GC, flagged)  GC n/max/total ms  page faults (≈ ms)  after flush p50/p99  emulator write p99  slack p50/p99');
  // The time those faults cost at the first-touch price the machine-floor probe measured.
  const faultMs = (n) => (n * machineFloor.pageFault.firstTouchUsPerPage) / 1000;
  const pct = (x) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
  for (const r of latency) {
    const a = r.clientAddedTtftMs;
    console.log(
      `${r.client.padEnd(18)} ${String(r.concurrency).padStart(5)} ${String(r.requests).padStart(5)} ${String(r.failed).padStart(5)} ${f(a.p50).padStart(8)} ${f(a.p90).padStart(8)} ${f(a.p99).padStart(8)} ${f(a.max).padStart(8)} ${f(r.eventLoopDelayP99Ms, 2).padStart(12)} ${String(r.chunksPerS).padStart(9)} ${f(r.cpuUsPerChunk, 1).padStart(13)} ${`${pct(r.mainCpuShare)}/${pct(r.runQueueWaitShare)}`.padStart(14)} ${`${pct(r.socketThreadCpuShare)}/${pct(r.socketThreadWaitShare)}`.padStart(17)} ${pct(r.emulatorCpuShare).padStart(13)} ${String(r.lateSamples).padStart(9)} (${String(r.lateDuringGc).padStart(4)}, ${String(r.lateFlagged).padStart(4)})   ${`${r.gcPauses.count}/${f(r.gcPauses.maxMs, 1)}/${f(r.gcPauses.totalMs, 0)}`.padEnd(17)}  ${`${r.minorPageFaults} (${f(faultMs(r.minorPageFaults), 0)})`.padEnd(18)}  ${f(r.clientAddedAfterFlushMs.p50)}/${f(r.clientAddedAfterFlushMs.p99)}  ${f(r.emulatorWriteMs.p99)}  ${f(r.stampSlackMs.p50)}/${f(r.stampSlackMs.p99)}`,
    );
  }
  if (parse.payloadMiB !== undefined) console.log(`\nSSE events parsed per second, one core (${f(parse.payloadMiB, 1)} MiB of vLLM chunks in ${parse.readSizeKiB} KiB reads, best and median of ${PARSE_RUNS})`);
  for (const [k, v] of Object.entries(parse)) {
    if (typeof v === 'object') console.log(`${k.padEnd(50)} ${String(v.eventsPerS).padStart(10)} events/s best, ${String(v.medianEventsPerS).padStart(10)} median`);
  }
  const result = {
    node: process.version,
    cpus: cpus().length,
    // 1-minute load average before/after: latency percentiles on a shared machine depend on it.
    loadAverage1m: { before: loadBefore[0], after: loadavg()[0] },
    // Event-loop delay of this process doing nothing: the machine's own scheduling noise.
    idleLoopDelayMs,
    machineFloor,
    emulatorNice,
    pinned,
    server: serverKind,
    totalSeconds: (Date.now() - started) / 1000,
    levels,
    latency,
    parse,
  };
  console.log(
    `\n${cpus().length} CPUs, 1-min load average ${loadBefore[0].toFixed(2)} before, ${loadavg()[0].toFixed(2)} after; ` +
      `idle event-loop delay p99 ${f(idleLoopDelayMs.p99, 2)} ms, max ${f(idleLoopDelayMs.max, 2)} ms; ${result.totalSeconds.toFixed(0)} s in all`,
  );
  console.log(describeMachineFloor(machineFloor));
  console.log(`\n${JSON.stringify(result)}`);
  if (jsonIdx >= 0 && args[jsonIdx + 1]) writeFileSync(args[jsonIdx + 1], `${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
