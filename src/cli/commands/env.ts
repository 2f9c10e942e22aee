// aeb env: what this machine offers the benchmark (native runtime, energy sensors, Node).
import type { Command } from 'commander';
import { environment } from '../wiring.js';
import { printJsonLine, writeStdout } from '../output.js';

async function sensors(): Promise<unknown> {
  try {
    const m = await import('../../energy/index.js');
    return await m.describeEnergySensors();
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
}

export function register(program: Command): void {
  program
    .command('env')
    .description('show the native runtime (libtorch, CUDA, BLAS, threads), energy sensors and Node environment')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const info = { ...(await environment()), energy_sensors: await sensors() };
      if (opts.json) {
        printJsonLine(info);
        return;
      }
      for (const [k, v] of Object.entries(info)) {
        writeStdout(typeof v === 'object' && v !== null ? `${k}:\n${JSON.stringify(v, null, 2).replace(/^/gm, '  ')}\n` : `${k}: ${v}\n`);
      }
    });
}
