#!/usr/bin/env node
// Bytes our streaming client allocates per SSE chunk, and where: the young generation fills at
// that rate times the chunk rate, and every fill is a scavenge that pauses the thread that
// stamps reads (`main` placement) — see BENCHMARKS.md, "Streaming client".
//
// Runs C concurrent streams (default 1,024) of 16 tokens against the lean bench server in a
// child process: one wave to open the keep-alive connections, then `--requests` measured
// requests with V8's sampling heap profiler on, counting objects the GC already collected
// too (inspector HeapProfiler.startSampling with includeObjectsCollectedBy{Minor,Major}GC).
// Sampling is statistical (one sample per ~4 KiB allocated): totals move by a few percent.
//
// --live-at-ms N instead reports what is still alive N ms into the measured phase, per request
// in flight: the state that survives scavenges, is copied by each and promoted (onto freshly
// faulted old-space pages) by the second.
//
// Usage: npm run build && node scripts/bench-sse-alloc.mjs [--concurrency 1024] [--requests 2048]
//        [--socket-thread main|worker] [--top 20] [--live-at-ms 1500]
// AEB_DIST=<dir> measures another tsc output directory (default: <repo>/dist).

import { Session } from 'node:inspector/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnLeanSseServer } from './bench-sse-server.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.env.AEB_DIST ?? join(repo, 'dist'));
const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '1024' },
    requests: { type: 'string', default: '2048' },
    'socket-thread': { type: 'string', default: 'main' },
    top: { type: 'string', default: '20' },
    'live-at-ms': { type: 'string' },
  },
});
const concurrency = Number(values.concurrency);
const requests = Number(values.requests);
const top = Number(values.top);
const placement = values['socket-thread'];
const liveAtMs = values['live-at-ms'] === undefined ? null : Number(values['live-at-ms']);
if (liveAtMs !== null && !(liveAtMs > 0)) throw new Error('--live-at-ms must be a positive number of milliseconds');
for (const [k, v] of Object.entries({ concurrency, requests, top })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}
if (placement !== 'main' && placement !== 'worker') throw new Error(`--socket-thread takes main or worker (got ${placement})`);

const TOKENS = 16;
// Chunks per request the lean server sends: role, TOKENS tokens, usage-only, [DONE].
const CHUNKS_PER_REQUEST = TOKENS + 3;

const lib = await import(pathToFileURL(join(dist, 'backends/openai/index.js')).href);
const { url, child: server } = await spawnLeanSseServer();

const backend = lib.createOpenAIBackend({
  endpoint: `${url}/v1`,
  maxSockets: concurrency,
  requestTimeoutMs: 60_000,
  extraBody: { bench_itl_ms: 50, bench_first_ms: [20, 200] },
  socketThread: placement,
});
const settings = { maxNewTokens: TOKENS, minNewTokens: 0, temperature: 0 };
async function pool(total, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, async () => {
    while (next < total) await fn(next++);
  }));
}

let failed = 0;
let profile;
/** Requests in flight when the live profile was taken. */
let liveInFlight = 0;
await backend.open();
try {
  await pool(concurrency, (i) => backend.generate({ index: i, text: `warm${i}` }, settings));
  const session = new Session();
  session.connect();
  const live = liveAtMs !== null;
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: !live,
    includeObjectsCollectedByMinorGC: !live,
  });
  let inFlight = 0;
  const liveProfile = live
    ? new Promise((res) => setTimeout(() => res(session.post('HeapProfiler.getSamplingProfile').then((p) => ({ ...p, inFlight }))), liveAtMs))
    : null;
  await pool(requests, async (i) => {
    inFlight++;
    const r = await backend.generate({ index: i, text: `r${i}` }, settings);
    inFlight--;
    if (!r.success) failed++;
  });
  if (live) {
    const snap = await liveProfile;
    profile = snap.profile;
    liveInFlight = snap.inFlight;
  }
  const stopped = await session.post('HeapProfiler.stopSampling');
  if (!live) profile = stopped.profile;
  session.disconnect();
} finally {
  await backend.close();
  server.kill();
}

const bySite = new Map();
let total = 0;
const walk = (node) => {
  const f = node.callFrame;
  const site = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  total += node.selfSize;
  bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
  for (const c of node.children) walk(c);
};
walk(profile.head);
const chunks = requests * CHUNKS_PER_REQUEST;
if (liveAtMs !== null) {
  console.log(`streaming client, ${placement} placement, ${concurrency} concurrent streams: alive ${liveAtMs} ms into the measured phase, ${liveInFlight} requests in flight`);
  console.log(`live on this thread's heap (sampled allocations of the measured phase): ${(total / 2 ** 20).toFixed(2)} MiB = ${(total / Math.max(1, liveInFlight)).toFixed(0)} B per request in flight\n`);
  console.log('B/request  allocation site (function file:line, 1-based)');
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(bytes / Math.max(1, liveInFlight)).toFixed(0).padStart(9)}  ${site}`);
  }
  console.log(`\nnode ${process.version}, ${dist}`);
  process.exit(failed > 0 ? 1 : 0);
}
console.log(`streaming client, ${placement} placement, ${concurrency} concurrent streams, ${requests} requests (${failed} failed), ${chunks} chunks`);
console.log(`allocated on this thread's heap: ${(total / 2 ** 20).toFixed(1)} MiB = ${(total / chunks).toFixed(0)} B per chunk, ${(total / requests).toFixed(0)} B per request\n`);
console.log('B/chunk  allocation site (function file:line, 1-based)');
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(bytes / chunks).toFixed(0).padStart(7)}  ${site}`);
}
console.log(`\nnode ${process.version}, ${dist}`);
if (failed > 0) process.exitCode = 1;
