#!/usr/bin/env node
// CPU overhead of the energy monitor's background sampler, against the fake libnvidia-ml
// (test/fixtures/fake-nvml), so it measures our JS + N-API + worker cost, not the driver's.
// Usage: npm run build && node scripts/bench-energy.mjs [--seconds 10] [--hz 10] [--gpus 8]
//        [--dist <tsc output dir, default dist>]
// Prints one JSON object: process CPU time (process.cpuUsage: all threads) spent per second
// of wall time with the sampler off and on, the difference as % of one core, the cost per
// sample, and the mean latency of an energy window's start+stop.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { buildFakeNvml, loadNvmlAddon, REPO } from '../test/fixtures/fake-nvml/build.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    hz: { type: 'string', default: '10' },
    gpus: { type: 'string', default: '8' },
    dist: { type: 'string', default: join(REPO, 'dist') },
  },
});
const seconds = Number(values.seconds);
const hz = Number(values.hz);
const gpus = Number(values.gpus);
for (const [name, v] of Object.entries({ seconds, hz, gpus })) {
  if (!(v > 0)) throw new RangeError(`--${name} must be a positive number (got ${v})`);
}

const dist = join(values.dist, 'energy');
if (!existsSync(join(dist, 'index.js'))) {
  console.error(`bench-energy: ${dist}/index.js not found: run \`npm run build\` first`);
  process.exit(1);
}
const { createEnergyMonitor } = await import(join(dist, 'index.js'));
const { addonNvmlProvider } = await import(join(dist, 'nvml-adapter.js'));

const dir = mkdtempSync(join(tmpdir(), 'aeb-bench-energy-'));
try {
  const lib = buildFakeNvml(dir);
  const { addon, from } = loadNvmlAddon(dir);
  const script = Array.from({ length: gpus }, (_, i) =>
    [
      'device', `name Fake GPU ${i}`, `bus 0000:${(i + 1).toString(16).padStart(2, '0')}:00.0`, `uuid GPU-${i}`,
      'energy 1000 2000 3000 4000 5000', 'power 250000 300000 350000', 'power_limit 700000',
      'util_gpu 90 95', 'util_mem 40', 'mem_used 1073741824', 'mem_total 150323855360', 'temp 60 61',
      'clock_sm 1980', 'clock_mem 3201',
    ].join('\n'),
  ).join('\n');
  writeFileSync(join(dir, 'script.txt'), script);
  process.env.AEB_FAKE_NVML_SCRIPT = join(dir, 'script.txt');
  const common = {
    nvml: addonNvmlProvider(addon),
    nvmlLibrary: lib,
    gpu: { deviceIds: Array.from({ length: gpus }, (_, i) => i) },
    raplRoot: join(dir, 'no-rapl'),
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function cpuPerSecond(sampleHz) {
    const m = await createEnergyMonitor({ ...common, sampleHz });
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const c = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const samples = m.timeline().length;
    await m.close();
    return { cpuMsPerS: (c.user + c.system) / 1000 / wall, samples, wall };
  }

  const off = await cpuPerSecond(0);
  const on = await cpuPerSecond(hz);
  const extraMsPerS = on.cpuMsPerS - off.cpuMsPerS;

  const m = await createEnergyMonitor({ ...common, sampleHz: 0 });
  const windows = 200;
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < windows; i++) {
    await m.startWindow('bench');
    await m.stopWindow();
  }
  const windowMs = Number(process.hrtime.bigint() - w0) / 1e6 / windows;
  await m.close();

  console.log(
    JSON.stringify(
      {
        addon: from,
        gpus,
        hz,
        seconds,
        samplesTaken: on.samples,
        cpuMsPerSecondSamplerOff: +off.cpuMsPerS.toFixed(3),
        cpuMsPerSecondSamplerOn: +on.cpuMsPerS.toFixed(3),
        overheadPercentOfOneCore: +(extraMsPerS / 10).toFixed(3),
        cpuUsPerSample: on.samples > 0 ? +((extraMsPerS * on.wall * 1000) / on.samples).toFixed(1) : null,
        windowStartStopMs: +windowMs.toFixed(3),
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
