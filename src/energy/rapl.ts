// CPU package and DRAM energy from Linux RAPL (powercap sysfs).
//
// Domains counted: top-level `intel-rapl:N` named package-N (cpu-package) and any domain
// named `dram` (its own scope: DRAM energy is not part of the package counter). Skipped to
// avoid double counting: core/uncore sub-domains (inside the package), `psys` (the whole
// platform, which includes the packages) and the `intel-rapl-mmio` mirror of the package.
// Counters are polled while a window is open (every `pollSeconds`, default 10 s) so a
// counter that wraps at max_energy_range_uj is unwrapped even in long windows.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { errorMessage, type EnergyProbe, type ProbeFigure, type SensorDescription } from './probe.js';

export const DEFAULT_RAPL_ROOT = '/sys/class/powercap';

export type ReadText = (path: string) => Promise<string>;

export interface RaplDomain {
  scope: 'cpu-package' | 'dram';
  /** e.g. 'package-0' or 'package-0/dram' */
  source: string;
  dir: string;
  maxRangeUj: number;
}

export interface RaplDiscovery {
  domains: RaplDomain[];
  unavailable: Array<{ scope: 'cpu-package' | 'dram'; source: string; reason: string }>;
}

/** Message for a failed sysfs read; permission errors say which file needs read access. */
export function readFailure(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return `needs read access to ${path} (RAPL counters are root-only on current kernels: run as root or grant read access)`;
  }
  if (code === 'ENOENT') return `${path} does not exist`;
  return `cannot read ${path}: ${code ?? errorMessage(err)}`;
}

/** A counter file's value; errors carry the file name and the fix. */
async function readNumber(read: ReadText, path: string): Promise<number> {
  let text: string;
  try {
    text = (await read(path)).trim();
  } catch (err) {
    throw new Error(readFailure(path, err));
  }
  if (!/^\d+$/.test(text)) throw new Error(`${path} holds '${text.slice(0, 40)}', not a counter value`);
  return Number(text);
}

async function subdirs(dir: string, pattern: RegExp): Promise<string[]> {
  const names = await readdir(dir);
  const num = (s: string) => s.split(':').slice(1).map(Number);
  return names
    .filter((n) => pattern.test(n))
    .sort((a, b) => {
      const [x, y] = [num(a), num(b)];
      for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
      return 0;
    });
}

export async function discoverRapl(root = DEFAULT_RAPL_ROOT, read: ReadText = (p) => readFile(p, 'utf8')): Promise<RaplDiscovery> {
  const out: RaplDiscovery = { domains: [], unavailable: [] };
  let tops: string[];
  try {
    tops = await subdirs(root, /^intel-rapl:\d+$/);
  } catch {
    tops = [];
  }
  if (tops.length === 0) {
    out.unavailable.push({
      scope: 'cpu-package',
      source: 'RAPL',
      reason: `no RAPL domains under ${root} (not Linux, CPU without RAPL, powercap driver not loaded, or a VM/container that hides it)`,
    });
    return out;
  }
  const consider = async (dir: string, parent: string | undefined): Promise<void> => {
    let name: string;
    try {
      name = (await read(join(dir, 'name'))).trim();
    } catch (err) {
      out.unavailable.push({ scope: 'cpu-package', source: dir, reason: readFailure(join(dir, 'name'), err) });
      return;
    }
    let scope: RaplDomain['scope'];
    if (parent === undefined && name.startsWith('package')) scope = 'cpu-package';
    else if (name === 'dram') scope = 'dram';
    else return; // core, uncore (inside the package), psys (includes the package)
    const source = parent ? `${parent}/${name}` : name;
    try {
      const maxRangeUj = await readNumber(read, join(dir, 'max_energy_range_uj'));
      await readNumber(read, join(dir, 'energy_uj'));
      out.domains.push({ scope, source, dir, maxRangeUj });
    } catch (err) {
      out.unavailable.push({ scope, source, reason: errorMessage(err) });
    }
  };
  for (const top of tops) {
    const dir = join(root, top);
    await consider(dir, undefined);
    const parent = out.domains.find((d) => d.dir === dir)?.source ?? top;
    let children: string[] = [];
    try {
      children = await subdirs(dir, /^intel-rapl:\d+:\d+$/);
    } catch {
      children = [];
    }
    for (const child of children) await consider(join(dir, child), parent);
  }
  return out;
}

/** Energy (µJ) between two readings of a counter that wraps at maxRangeUj. */
export function unwrapDelta(startUj: number, endUj: number, maxRangeUj: number): number {
  return endUj >= startUj ? endUj - startUj : endUj + (maxRangeUj - startUj);
}

interface DomainWindow {
  last: number;
  accumulatedUj: number;
  error?: string;
}

/** A live RAPL counter moves every ~1 ms; one that stays put this long reads nothing (some VMs expose a powercap tree of zeros). */
const STUCK_COUNTER_S = 0.05;
/** Power no CPU package or DRAM domain reaches: reads further apart than range ÷ this may have hidden whole wraps. */
const MAX_PLAUSIBLE_WATTS = 1000;

export class RaplProbe implements EnergyProbe {
  private state: DomainWindow[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** When the window began, and the longest time between two reads in it (s). */
  private beganNs = 0n;
  private lastReadNs = 0n;
  private longestReadGapS = 0;

  constructor(
    private readonly discovery: RaplDiscovery,
    private readonly read: ReadText = (p) => readFile(p, 'utf8'),
    private readonly pollSeconds = 10,
  ) {}

  get hasPackage(): boolean {
    return this.discovery.domains.some((d) => d.scope === 'cpu-package');
  }

  async describe(): Promise<SensorDescription[]> {
    return [
      ...this.discovery.domains.map((d): SensorDescription => ({ scope: d.scope, method: 'counter', status: 'ok', source: d.source })),
      ...this.discovery.unavailable.map((u): SensorDescription => ({ scope: u.scope, method: 'counter', status: 'unavailable', source: u.source, reason: `unavailable: ${u.reason}` })),
    ];
  }

  private async readAll(): Promise<Array<number | Error>> {
    return Promise.all(
      this.discovery.domains.map((d) =>
        readNumber(this.read, join(d.dir, 'energy_uj')).catch((err: unknown) => err as Error),
      ),
    );
  }

  private async poll(): Promise<void> {
    const state = this.state;
    if (!state) return;
    const values = await this.readAll();
    const now = process.hrtime.bigint();
    this.longestReadGapS = Math.max(this.longestReadGapS, Number(now - this.lastReadNs) / 1e9);
    this.lastReadNs = now;
    values.forEach((v, i) => {
      const s = state[i]!;
      if (s.error) return;
      if (v instanceof Error) {
        s.error = v.message;
        return;
      }
      s.accumulatedUj += unwrapDelta(s.last, v, this.discovery.domains[i]!.maxRangeUj);
      s.last = v;
    });
  }

  async begin(): Promise<void> {
    clearInterval(this.timer); // a window begun again without end() (a failed start elsewhere)
    this.timer = undefined;
    const values = await this.readAll();
    this.beganNs = this.lastReadNs = process.hrtime.bigint();
    this.longestReadGapS = 0;
    this.state = values.map((v) =>
      v instanceof Error ? { last: 0, accumulatedUj: 0, error: v.message } : { last: v, accumulatedUj: 0 },
    );
    if (this.discovery.domains.length > 0) {
      this.timer = setInterval(() => {
        this.polling ??= this.poll().finally(() => (this.polling = undefined));
      }, this.pollSeconds * 1000);
      this.timer.unref();
    }
  }

  async end(): Promise<ProbeFigure[]> {
    if (!this.state) throw new Error('RAPL energy window was not started');
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    await this.poll();
    const state = this.state;
    this.state = undefined;
    const seconds = Number(this.lastReadNs - this.beganNs) / 1e9;
    const figures: ProbeFigure[] = this.discovery.domains.map((d, i) => {
      const s = state[i]!;
      const base = { scope: d.scope, method: 'counter' as const, source: d.source };
      const invalid = (reason: string): ProbeFigure => ({ ...base, status: 'invalid', joules: null, reason });
      if (s.error) return invalid(`read failed during the window: ${s.error}`);
      if (s.accumulatedUj === 0 && seconds >= STUCK_COUNTER_S)
        return invalid(`the counter did not move in ${seconds.toFixed(3)} s (a powercap interface that reads nothing, as some VMs expose): no figure, never 0 J`);
      const wrapS = d.maxRangeUj / 1e6 / MAX_PLAUSIBLE_WATTS;
      if (this.longestReadGapS >= wrapS)
        return invalid(`reads ${this.longestReadGapS.toFixed(3)} s apart while the counter can wrap every ${wrapS.toFixed(3)} s (range ${d.maxRangeUj} µJ): whole wraps may be missing; poll more often`);
      return { ...base, status: 'ok', joules: s.accumulatedUj / 1e6 };
    });
    return figures.concat(
      this.discovery.unavailable.map((u) => ({
        scope: u.scope,
        method: 'counter' as const,
        status: 'unavailable' as const,
        source: u.source,
        joules: null,
        reason: `unavailable: ${u.reason}`,
      })),
    );
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
