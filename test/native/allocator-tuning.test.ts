// The addon raises glibc malloc's mmap and trim thresholds when it loads (allocator_tuning.h),
// so a prefill's freed temporaries are reused instead of faulted in again; the user's own
// choice (AEB_MALLOC_TUNING=0, or malloc tunables in GLIBC_TUNABLES) wins. Each case is a
// fresh process: the setting is process-wide and applied once.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH, SKIP_NATIVE } from './helpers/fixtures.js';

function allocatorIn(env: Record<string, string>): string {
  const script = `const a = require(${JSON.stringify(ADDON_PATH)}); process.stdout.write(a.runtimeInfo().allocator);`;
  return execFileSync(process.execPath, ['-e', script], { env: { ...process.env, AEB_MALLOC_TUNING: '', GLIBC_TUNABLES: '', ...env }, encoding: 'utf8' });
}

// glibc only (Linux; CI is Debian); without the addon (AEB_SKIP_NATIVE) there is nothing to load.
describe.skipIf(SKIP_NATIVE || process.platform !== 'linux')('allocator tuning', () => {
  it('raises the thresholds when the addon loads', () => {
    expect(allocatorIn({})).toBe('glibc: mmap threshold 32 MiB, trim threshold 512 MiB (AEB_MALLOC_TUNING=0 keeps the defaults)');
  });

  it('keeps glibc defaults with AEB_MALLOC_TUNING=0, and the user\'s GLIBC_TUNABLES malloc settings', () => {
    expect(allocatorIn({ AEB_MALLOC_TUNING: '0' })).toBe('glibc defaults (AEB_MALLOC_TUNING=0)');
    expect(allocatorIn({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1048576' })).toBe('glibc, as GLIBC_TUNABLES sets it');
  });
});
