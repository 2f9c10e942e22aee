// The C++ core's own checks (native/core/tests, run by ctest): the CPU kernels on every
// instruction set this CPU has against the scalar reference, the sampler, bit-identical decode
// across thread counts, and per-model intra-op thread counts. They build the core as a static
// library apart from the addon, against the libtorch the addon was built with.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// @ts-expect-error plain ESM script without type declarations
import { locateTorch } from '../../scripts/locate-torch.mjs';
import { REPO_ROOT, SKIP_NATIVE } from './helpers/fixtures.js';

const torch = SKIP_NATIVE ? { found: false } : (locateTorch() as { found: boolean; cmakeUsable?: boolean; torchDir?: string });
// A pip torch whose CMake config cannot be used here is built by gpu-check.sh's own recipe.
const usable = torch.found && torch.cmakeUsable === true;

describe.skipIf(!usable)('C++ core checks (ctest)', () => {
  const buildDir = mkdtempSync(join(tmpdir(), 'aeb-core-'));
  afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

  function run(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${out.slice(-4000)}`);
    return out;
  }

  it('builds and passes every ctest check', () => {
    run('cmake', ['-S', 'native/core/tests', '-B', buildDir, `-DTorch_DIR=${torch.torchDir!}`]);
    run('cmake', ['--build', buildDir, '-j2']);
    const out = run('ctest', ['--test-dir', buildDir, '--output-on-failure']);
    expect(out).toMatch(/100% tests passed, 0 tests failed out of (\d+)/);
    for (const check of ['sampler_check', 'decoder_threads_check', 'threads_per_thread_check', 'kernel_check_scalar']) {
      expect(out).toContain(check);
    }
  }, 1_200_000);
});
