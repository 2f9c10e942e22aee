#!/usr/bin/env node
// Live heap per request in flight: the state our streaming client keeps for each open
// request, which at high concurrency survives every young-generation GC and is copied by it
// (scavenge pauses grow with it; see BENCHMARKS.md, "Streaming client").
//
// Runs N concurrent streams (default 1,024) against the lean bench server in a child
// process, once to open the keep-alive connections, then again with heap snapshots taken
// (after a full GC) before the wave, once every response head has arrived, and after a few
// tokens (streams of 16 tokens 1 s apart outlive the snapshots). Prints the heap growth per request in flight and the largest contributors.
//
// Usage: npm run build && node --expose-gc scripts/bench-sse-heap.mjs [N] [--top K]
// AEB_DIST=<dir> measures another tsc output directory (default: <repo>/dist).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { spawnLeanSseServer } from './bench-sse-server.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.env.AEB_DIST ?? join(repo, 'dist'));
const args = process.argv.slice(2);
const topIndex = args.indexOf('--top');
const top = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 12;
const n = Number(args[0] ?? 1024);
if (typeof globalThis.gc !== 'function') {
  console.error('bench-sse-heap: run with node --expose-gc');
  process.exit(2);
}

const lib = await import(pathToFileURL(join(dist, 'backends/openai/index.js')).href);
const { url, child: server } = await spawnLeanSseServer();
const dir = mkdtempSync(join(tmpdir(), 'aeb-heap-'));

/** Heap snapshot after a full GC, summarised as self size and count per (node type, name). */
function snapshot(name) {
  globalThis.gc();
  const file = v8.writeHeapSnapshot(join(dir, `${name}.heapsnapshot`));
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  rmSync(file);
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byKind = new Map();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + ti]];
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'synthetic';
    const key = named ? `${type} ${snap.strings[snap.nodes[i + ni]].slice(0, 50)}` : type;
    const e = byKind.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[i + si];
    byKind.set(key, e);
  }
  return byKind;
}

function report(label, base, now) {
  const rows = [];
  let total = 0;
  for (const [key, e] of now) {
    const b = base.get(key) ?? { count: 0, bytes: 0 };
    rows.push({ key, count: e.count - b.count, bytes: e.bytes - b.bytes });
    total += e.bytes - b.bytes;
  }
  rows.sort((a, b) => b.bytes - a.bytes);
  console.log(`\n${label}: +${(total / 1024).toFixed(0)} KiB, ${(total / n).toFixed(0)} B per request in flight`);
  for (const r of rows.slice(0, top)) console.log(`${String(r.bytes).padStart(10)} B ${String(r.count).padStart(7)}  ${r.key}`);
}

const backend = lib.createOpenAIBackend({
  endpoint: `${url}/v1`,
  maxSockets: n,
  requestTimeoutMs: 60_000,
  extraBody: { bench_itl_ms: 1_000, bench_first_ms: [400, 450] }, // streams outlive the snapshots
  socketThread: 'main',
});
await backend.open();
const settings = { maxNewTokens: 16, minNewTokens: 0, temperature: 0 };
const wave = (tag) => Array.from({ length: n }, (_, i) => backend.generate({ index: i, text: `${tag}${i}` }, settings));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
try {
  await Promise.all(wave('warm')); // opens the keep-alive connections: sockets are not per request
  const base = snapshot('base');
  const inFlight = wave('r');
  await sleep(300);
  report('response heads in, no token yet', base, snapshot('heads'));
  await sleep(2_500);
  report('a few tokens in', base, snapshot('tokens'));
  const records = await Promise.all(inFlight);
  const failed = records.filter((r) => !r.success).length;
  if (failed > 0) console.log(`\n${failed} of ${n} requests failed`);
} finally {
  await backend.close();
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\nnode ${process.version}, ${n} concurrent streams, main-thread sockets, ${dist}`);
