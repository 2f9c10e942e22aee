#!/usr/bin/env node
// Native engine benchmark (npm run bench:native; needs `npm run build` and the addon).
// For stories260K and a seeded synthetic ~125M-parameter Llama, in f32 and bf16: load time,
// TTFT, decode tokens/s (median of runs), C++ -> JS per-token delivery latency (JS receive
// time - C++ stamp, same clock) p50/p99 for the raw callback and for the engine's async
// iterator, the measured memory-read bandwidth and the decode rate as a share of the
// bandwidth limit (bandwidth / weight bytes read per token).
//
//   node scripts/bench-native.mjs [--device cpu|cuda[:N]] [--threads N] [--runs 5]
//     [--tokens 128] [--models stories,synthetic] [--dtypes f32,bf16] [--cache DIR]
//     [--bandwidth-gbps X]   (limit for devices the probe cannot measure, e.g. GPU HBM)
//     [--floor-seconds 1]    (machine-floor probe before the models, scripts/machine-floor.mjs; 0 skips)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STORIES_BIN = process.env.AEB_STORIES_BIN || join(process.env.AEB_STORIES260K_DIR || join(ROOT, '..', 'shared', 'fixtures', 'stories260K'), 'stories260K.bin');

const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: String(availableParallelism()) },
    runs: { type: 'string', default: '5' },
    tokens: { type: 'string', default: '128' },
    models: { type: 'string', default: 'stories,synthetic' },
    dtypes: { type: 'string', default: 'f32,bf16' },
    cache: { type: 'string', default: join(ROOT, 'build', 'bench-models') },
    'bandwidth-gbps': { type: 'string' },
    'prompt-tokens': { type: 'string', default: '16' },
    warmup: { type: 'string', default: '3' },
    'floor-seconds': { type: 'string', default: '1' },
  },
});
const threads = Number(args.threads);
const runs = Number(args.runs);
const maxNewTokens = Number(args.tokens);
const promptTokens = Number(args['prompt-tokens']);
const warmup = Number(args.warmup);
for (const [k, v] of Object.entries({ threads, runs, tokens: maxNewTokens, 'prompt-tokens': promptTokens })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}
if (!Number.isInteger(warmup) || warmup < 0) throw new Error('--warmup must be a non-negative integer');
const floorSeconds = Number(args['floor-seconds']);
if (!(floorSeconds >= 0 && floorSeconds <= 60)) throw new Error('--floor-seconds must be a number of seconds in [0, 60] (0 skips the machine-floor probe)');

async function importDist(rel) {
  const file = join(ROOT, 'dist', rel);
  if (!existsSync(file)) {
    process.stderr.write(`bench-native: ${file} is missing: run \`npm run build\` first\n`);
    process.exit(2);
  }
  return import(pathToFileURL(file).href);
}

const { loadAddon } = await importDist('native/index.js');
const { loadModel } = await importDist('engine/index.js');
const { writeSyntheticLlama, LLAMA_100M, syntheticParameterCount } = await importDist('engine/synthetic-llama.js');
const { convertLlama2c } = await importDist('convert/llama2c.js');
const { holdEventLoopHot } = await importDist('engine/busy-poll.js');
const { measureMachineFloor, describeMachineFloor } = await import('./machine-floor.mjs');
const addon = loadAddon();

// ---- models (generated once into the cache dir) ---------------------------------------------
async function ensureModel(name) {
  const dir = join(args.cache, name);
  const stamp = join(dir, '.aeb-bench-ok');
  const spec = name === 'stories' ? { source: STORIES_BIN } : LLAMA_100M;
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === JSON.stringify(spec)) return dir;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`bench-native: writing ${name} into ${dir} ...\n`);
  if (name === 'stories') await convertLlama2c(STORIES_BIN, dir);
  else await writeSyntheticLlama(dir, LLAMA_100M);
  writeFileSync(stamp, JSON.stringify(spec));
  return dir;
}

// ---- statistics --------------------------------------------------------------------------------
const quantile = (xs, q) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
};
const median = (xs) => quantile(xs, 0.5);

// ---- where late deliveries come from -------------------------------------------------------------
// V8's GC pauses as [start, end] in hrtime ns (performance.now() is on the same monotonic clock,
// shifted by its origin). A delivery is "late" past LATE_US; it is "during GC" when its wait
// (C++ stamp -> JS receive) overlaps a pause. The rest of the tail is the JS thread waiting for
// a CPU (on a 2-vCPU machine with a decode thread on one, V8's own helper threads and everything
// else share the other) or page faults outside GC.
const LATE_US = 50;
const gcPauses = [];
const nowNsOrigin = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const start = Number(nowNsOrigin) + e.startTime * 1e6;
    gcPauses.push([start, start + e.duration * 1e6]);
  }
}).observe({ entryTypes: ['gc'] });
// waits: stamp and receive times in ns (exact as doubles: below 2^53), two entries per token.
function lateDeliveryShares(waits) {
  let late = 0;
  let duringGc = 0;
  for (let i = 0; i < waits.length; i += 2) {
    const stamp = waits[i];
    const received = waits[i + 1];
    if ((received - stamp) / 1e3 <= LATE_US) continue;
    late++;
    if (gcPauses.some(([s, e]) => s < received && e > stamp)) duringGc++;
  }
  const tokens = waits.length / 2;
  return { lateShare: tokens ? late / tokens : null, lateDuringGcShare: late ? duringGc / late : null };
}
const decodeRate = (res) => {
  const n = res.tokenNs.length;
  return (n - 1) / (Number(res.tokenNs[n - 1] - res.tokenNs[0]) / 1e9);
};

// ---- one configuration -------------------------------------------------------------------------
async function benchOne(modelName, dir, dtype, bandwidthGBps) {
  const t0 = process.hrtime.bigint();
  const raw = await addon.loadModel(dir, { device: args.device, dtype, threads });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const info = raw.info;
  const prompt = Array.from({ length: Math.min(promptTokens, info.maxSeqLen - maxNewTokens) }, (_, i) => 1 + ((i * 7) % (info.vocabSize - 1)));
  const opts = { maxNewTokens, stopIds: [] };
  const delivery = [];
  const waits = new Float64Array(2 * runs * maxNewTokens);
  let waitCount = 0;
  const ttft = [];
  const rate = [];
  const busyDelivery = [];
  const busyRate = [];
  try {
    // Warm-up (allocations, thread pools, kernels, and the first touch of every page the
    // delivery path uses: a first-touch fault costs ~20 µs in a VM).
    for (let w = 0; w < warmup; w++) await raw.generate(prompt, opts, () => {});
    for (let r = 0; r < runs; r++) {
      const lat = [];
      const res = await raw.generate(prompt, opts, (_id, _index, timeNs) => {
        const received = process.hrtime.bigint();
        lat.push(Number(received - timeNs) / 1e3);
        waits[waitCount++] = Number(timeNs);
        waits[waitCount++] = Number(received);
      });
      delivery.push(...lat);
      ttft.push(Number(res.tokenNs[0] - res.startNs) / 1e6);
      rate.push(decodeRate(res));
    }
    // Busy polling (GenerateOptions.busyPoll): the same runs with the event loop kept hot.
    for (let r = 0; r < runs; r++) {
      const release = holdEventLoopHot();
      try {
        const res = await raw.generate(prompt, opts, (_id, _index, timeNs) => {
          busyDelivery.push(Number(process.hrtime.bigint() - timeNs) / 1e3);
        });
        busyRate.push(decodeRate(res));
      } finally {
        release();
      }
    }
  } finally {
    raw.dispose();
  }
  // The engine's AsyncIterable adds promise hops on top of the callback.
  const model = await loadModel(dir, { device: args.device, dtype, threads });
  const streamLat = [];
  try {
    const stream = model.generate(prompt, opts);
    for await (const ev of stream) streamLat.push(Number(process.hrtime.bigint() - ev.timeNs) / 1e3);
    await stream.result;
  } finally {
    model.dispose();
  }
  const decode = median(rate);
  const limit = bandwidthGBps ? (bandwidthGBps * 1e9) / info.weightBytes : null;
  return {
    model: modelName,
    dtype: info.dtype,
    device: info.device,
    threads: info.threads,
    parameters: info.numParameters,
    weightBytes: info.weightBytes,
    loadMs,
    ttftMsMedian: median(ttft),
    decodeTokPerSecMedian: decode,
    decodeTokPerSecRuns: rate,
    effectiveGBps: decode !== null ? (decode * info.weightBytes) / 1e9 : null,
    limitTokPerSec: limit,
    shareOfLimit: limit && decode ? decode / limit : null,
    deliveryUsP50: quantile(delivery, 0.5),
    deliveryUsP99: quantile(delivery, 0.99),
    deliveryUsMax: quantile(delivery, 1),
    ...lateDeliveryShares(waits.subarray(0, waitCount)),
    busyPollDeliveryUsP50: quantile(busyDelivery, 0.5),
    busyPollDeliveryUsP99: quantile(busyDelivery, 0.99),
    busyPollDecodeTokPerSecMedian: median(busyRate),
    streamUsP50: quantile(streamLat, 0.5),
    streamUsP99: quantile(streamLat, 0.99),
    tokensPerRun: maxNewTokens,
    runs,
  };
}

// ---- main ------------------------------------------------------------------------------------------
const runtime = addon.runtimeInfo();
// Two spinners: a delivery crosses two threads (decode thread, JS thread), each can lose its CPU.
const floor = floorSeconds > 0 ? await measureMachineFloor({ seconds: floorSeconds, threads: 2 }) : null;
let bandwidth = null;
if (args['bandwidth-gbps']) {
  bandwidth = { bestGBps: Number(args['bandwidth-gbps']), source: '--bandwidth-gbps' };
} else if (args.device === 'cpu') {
  const b = addon.measureReadBandwidth(512 * 2 ** 20, threads, 8);
  bandwidth = { ...b, source: `probe: sum of 512 MiB, ${threads} threads, best of 8` };
}

const results = [];
for (const name of args.models.split(',')) {
  if (name !== 'stories' && name !== 'synthetic') throw new Error(`--models: unknown model "${name}" (stories, synthetic)`);
  const dir = await ensureModel(name);
  for (const dtype of args.dtypes.split(',')) {
    try {
      results.push(await benchOne(name, dir, dtype, bandwidth?.bestGBps ?? null));
    } catch (err) {
      results.push({ model: name, dtype, error: `${err.code ?? ''} ${err.message}`.trim() });
    }
  }
}

const fmt = (v, d = 1) => (v === null || v === undefined ? 'n/a' : Number(v).toFixed(d));
const pct = (v) => (v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const rows = [['model', 'dtype', 'params', 'load ms', 'TTFT ms', 'decode tok/s', 'GB/s', 'limit tok/s', '% limit', 'cb p50 µs', 'cb p99 µs', `cb >${LATE_US}µs`, 'late in GC', 'iter p99 µs', 'busy p50 µs', 'busy p99 µs', 'busy tok/s']];
for (const r of results) {
  if (r.error) {
    rows.push([r.model, r.dtype, `error: ${r.error}`]);
    continue;
  }
  rows.push([
    r.model, r.dtype, `${(r.parameters / 1e6).toFixed(2)}M`, fmt(r.loadMs), fmt(r.ttftMsMedian, 2), fmt(r.decodeTokPerSecMedian),
    fmt(r.effectiveGBps, 2), fmt(r.limitTokPerSec), r.shareOfLimit === null ? 'n/a' : `${(r.shareOfLimit * 100).toFixed(0)}%`,
    fmt(r.deliveryUsP50), fmt(r.deliveryUsP99), pct(r.lateShare), pct(r.lateDuringGcShare), fmt(r.streamUsP99),
    fmt(r.busyPollDeliveryUsP50), fmt(r.busyPollDeliveryUsP99), fmt(r.busyPollDecodeTokPerSecMedian),
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => String(row[i] ?? '').length)));
const line = (row) => row.map((c, i) => String(c ?? '').padEnd(widths[i])).join('  ');
process.stdout.write(`\nnative engine benchmark — torch ${runtime.torchVersion}, ${args.device}, ${threads} threads, BLAS: ${runtime.blas.split(' (')[0]}\n`);
process.stdout.write(`memory-read bandwidth: ${bandwidth ? `${fmt(bandwidth.bestGBps, 2)} GB/s (${bandwidth.source})` : 'not measured (pass --bandwidth-gbps for this device)'}\n`);
if (floor) process.stdout.write(`${describeMachineFloor(floor)}\n`);
process.stdout.write(`${maxNewTokens} new tokens after a ${promptTokens}-token prompt, median of ${runs} runs; cb = native callback (>${LATE_US}µs: share of late deliveries; late in GC: share of those whose wait overlapped a V8 GC pause), iter = engine AsyncIterable, busy = callback with the event loop kept polling (busyPoll)\n\n`);
process.stdout.write(`${rows.map(line).join('\n')}\n\n`);
process.stdout.write(`${JSON.stringify({ bench: 'native', at: new Date().toISOString(), device: args.device, threads, torch: runtime.torchVersion, blas: runtime.blas, bandwidth, machineFloor: floor, syntheticParameters: syntheticParameterCount(LLAMA_100M), results })}\n`);
