// RAPL against a fake powercap tree in a temp dir. Tests run as root, so chmod 000 would not
// block reads: permission failures are provoked by an injected reader that fails with EACCES
// (as the kernel does for non-root users), and an unreadable path by a directory (EISDIR).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeEach, describe, expect, it } from 'vitest';

import { createEnergyMonitor } from '../../src/energy/index.js';
import { discoverRapl, RaplProbe, unwrapDelta } from '../../src/energy/rapl.js';
import { buildSummary } from '../../src/runner/summary.js';

const base = mkdtempSync(join(tmpdir(), 'aeb-rapl-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let root: string;
let n = 0;
const MAX = 262_143_328_850;

function domain(path: string, name: string, energyUj: number, max = MAX): void {
  mkdirSync(join(root, path), { recursive: true });
  writeFileSync(join(root, path, 'name'), `${name}\n`);
  writeFileSync(join(root, path, 'energy_uj'), `${energyUj}\n`);
  writeFileSync(join(root, path, 'max_energy_range_uj'), `${max}\n`);
}
const setEnergy = (path: string, uj: number) => writeFileSync(join(root, path, 'energy_uj'), `${uj}\n`);

/** Two sockets with core/uncore/dram children, a psys domain and an mmio mirror. */
function serverTree(): void {
  domain('intel-rapl:0', 'package-0', 1_000_000);
  domain('intel-rapl:0/intel-rapl:0:0', 'core', 400_000);
  domain('intel-rapl:0/intel-rapl:0:1', 'dram', 50_000);
  domain('intel-rapl:1', 'package-1', MAX - 1_000_000);
  domain('intel-rapl:1/intel-rapl:1:0', 'uncore', 7);
  domain('intel-rapl:1/intel-rapl:1:1', 'dram', 0);
  domain('intel-rapl:2', 'psys', 5);
  domain('intel-rapl-mmio:0', 'package-0', 5);
}

beforeEach(() => {
  root = join(base, `t${n++}`);
  mkdirSync(root);
});

describe('RAPL', () => {
  it('counts package and dram domains only (no core/uncore/psys/mmio double counting)', async () => {
    serverTree();
    const d = await discoverRapl(root);
    expect(d.domains.map((x) => [x.scope, x.source])).toEqual([
      ['cpu-package', 'package-0'],
      ['dram', 'package-0/dram'],
      ['cpu-package', 'package-1'],
      ['dram', 'package-1/dram'],
    ]);
    expect(d.unavailable).toEqual([]);
  });

  it('unwraps the counter at max_energy_range_uj', () => {
    expect(unwrapDelta(100, 250, 1000)).toBe(150);
    expect(unwrapDelta(900, 50, 1000)).toBe(150);
  });

  it('measures windows per domain, across a wrap, and totals package + dram', async () => {
    serverTree();
    const m = await createEnergyMonitor({ gpu: false, raplRoot: root, sampleHz: 0 });
    await m.startWindow('w');
    setEnergy('intel-rapl:0', 3_500_000); // +2.5 J
    setEnergy('intel-rapl:0/intel-rapl:0:0', 900_000); // core: must not be counted
    setEnergy('intel-rapl:0/intel-rapl:0:1', 550_000); // +0.5 J
    setEnergy('intel-rapl:1', 2_000_000); // wrapped: +3 J
    setEnergy('intel-rapl:1/intel-rapl:1:1', 250_000); // +0.25 J
    const w = await m.stopWindow();
    expect(w.figures.filter((f) => f.scope !== 'gpu').map((f) => [f.source, f.method, f.status, f.joules])).toEqual([
      ['package-0', 'counter', 'ok', 2.5],
      ['package-0/dram', 'counter', 'ok', 0.5],
      ['package-1', 'counter', 'ok', 3],
      ['package-1/dram', 'counter', 'ok', 0.25],
    ]);
    expect(w.cpuJoules).toBeCloseTo(6.25, 12);
    expect(w.figures.some((f) => f.scope === 'estimated-cpu')).toBe(false);
    await m.close();
  });

  it('polls during long windows so several wraps are all counted', async () => {
    // A 600 J range: at the most a package draws (1 kW) it wraps every 0.6 s, far above the
    // 20 ms poll, so the window is trusted (a range the reads cannot keep up with is invalid).
    domain('intel-rapl:0', 'package-0', 0, 600e6);
    const probe = new RaplProbe(await discoverRapl(root), undefined, 0.02);
    await probe.begin();
    for (const v of [480e6, 360e6, 240e6]) {
      setEnergy('intel-rapl:0', v); // each step is +480 J, wrapping each time after the first
      await new Promise((r) => setTimeout(r, 80));
    }
    const [fig] = await probe.end();
    expect(fig!.joules).toBeCloseTo(1440, 6);
    probe.close();
  });

  it('reports permission errors as "needs read access to <path>" and falls back to the estimate', async () => {
    serverTree();
    const deny = async (p: string) => {
      if (p.endsWith('energy_uj') && p.includes('intel-rapl:1')) {
        throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
      }
      return readFile(p, 'utf8');
    };
    const d = await discoverRapl(root, deny);
    expect(d.domains.map((x) => x.source)).toEqual(['package-0', 'package-0/dram']);
    expect(d.unavailable[0]).toEqual({
      scope: 'cpu-package',
      source: 'package-1',
      reason: expect.stringMatching(new RegExp(`^needs read access to ${join(root, 'intel-rapl:1', 'energy_uj')}`)),
    });

    const denyAll = async (p: string) => {
      if (p.endsWith('energy_uj')) throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      return readFile(p, 'utf8');
    };
    const m = await createEnergyMonitor({ gpu: false, raplRoot: root, raplReadFile: denyAll, sampleHz: 0, busyCpuMs: (() => { let t = 0; return () => (t += 100); })() });
    await m.startWindow('w');
    const w = await m.stopWindow();
    const pkg = w.figures.find((f) => f.source === 'package-0')!;
    expect(pkg).toMatchObject({ scope: 'cpu-package', status: 'unavailable', joules: null });
    expect(pkg.reason).toBe(
      `unavailable: needs read access to ${join(root, 'intel-rapl:0', 'energy_uj')} (RAPL counters are root-only on current kernels: run as root or grant read access)`,
    );
    expect(w.figures.find((f) => f.scope === 'estimated-cpu')).toMatchObject({ method: 'estimated', status: 'ok', joules: 1 });
    expect(w.cpuJoules).toBe(1);
    await m.close();
  });

  it('names an unreadable counter (a directory: EISDIR) and a malformed one', async () => {
    domain('intel-rapl:0', 'package-0', 1);
    rmSync(join(root, 'intel-rapl:0', 'energy_uj'));
    mkdirSync(join(root, 'intel-rapl:0', 'energy_uj'));
    domain('intel-rapl:1', 'package-1', 1);
    writeFileSync(join(root, 'intel-rapl:1', 'max_energy_range_uj'), 'n/a\n');
    const d = await discoverRapl(root);
    expect(d.domains).toEqual([]);
    expect(d.unavailable.map((u) => u.reason)).toEqual([
      `cannot read ${join(root, 'intel-rapl:0', 'energy_uj')}: EISDIR`,
      `${join(root, 'intel-rapl:1', 'max_energy_range_uj')} holds 'n/a', not a counter value`,
    ]);
  });

  it('invalidates a window when a counter becomes unreadable mid-window', async () => {
    domain('intel-rapl:0', 'package-0', 10);
    const probe = new RaplProbe(await discoverRapl(root));
    await probe.begin();
    rmSync(join(root, 'intel-rapl:0', 'energy_uj'));
    const [fig] = await probe.end();
    expect(fig).toMatchObject({ status: 'invalid', joules: null });
    expect(fig!.reason).toMatch(/read failed during the window: .*energy_uj does not exist/);
  });

  it('leaves the CPU total empty when a DRAM domain that exists fails mid-window; an unavailable DRAM domain stays out', async () => {
    domain('intel-rapl:0', 'package-0', 1_000_000);
    domain('intel-rapl:0/intel-rapl:0:0', 'dram', 500_000);
    const m = await createEnergyMonitor({ gpu: false, raplRoot: root, sampleHz: 0 });
    await m.startWindow('w');
    setEnergy('intel-rapl:0', 3_500_000); // +2.5 J
    rmSync(join(root, 'intel-rapl:0/intel-rapl:0:0', 'energy_uj')); // DRAM read fails at window end
    const w = await m.stopWindow();
    await m.close();
    expect(w.figures.filter((f) => f.scope !== 'gpu').map((f) => [f.source, f.status, f.joules])).toEqual([
      ['package-0', 'ok', 2.5],
      ['package-0/dram', 'invalid', null],
    ]);
    expect(w.cpuJoules).toBeNull(); // not 2.5 J under a scope that says cpu-package+dram
    const s = buildSummary({ records: [], plannedPrompts: 0, warmupRequests: 0, durationSeconds: 0, stopReason: null, cancelledInFlight: 0, energy: w, idle: null, emissions: null });
    expect(s.energy).toMatchObject({ status: 'invalid', scope: 'cpu-package+dram', cpu_joules: null, cpu_method: null, primary_joules: null });

    // No readable DRAM domain at all (here: a malformed range): the package alone, as before.
    writeFileSync(join(root, 'intel-rapl:0/intel-rapl:0:0', 'energy_uj'), '0\n');
    writeFileSync(join(root, 'intel-rapl:0/intel-rapl:0:0', 'max_energy_range_uj'), 'n/a\n');
    const m2 = await createEnergyMonitor({ gpu: false, raplRoot: root, sampleHz: 0 });
    await m2.startWindow('w');
    setEnergy('intel-rapl:0', 4_500_000); // +1 J
    const w2 = await m2.stopWindow();
    await m2.close();
    expect(w2.figures.find((f) => f.scope === 'dram')).toMatchObject({ status: 'unavailable', joules: null });
    expect(w2.cpuJoules).toBe(1);
  });

  it('says when there is no RAPL at all', async () => {
    const d = await discoverRapl(join(root, 'missing'));
    expect(d.domains).toEqual([]);
    expect(d.unavailable[0]!.reason).toMatch(/^no RAPL domains under/);
  });
});
