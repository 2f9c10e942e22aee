import { defineConfig } from 'vitest/config';

// Suites that load the native addon must run in forked processes (libtorch, native threads);
// `forks` is used for everything so a native crash can never take the runner down with it.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
  },
});
