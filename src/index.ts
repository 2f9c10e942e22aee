// Public library API of ai-energy-benchmarks (the package exports only this entry point).
// Nothing here loads the native addon at import time: the energy module and the native
// backend load it on first use. The native engine and the OpenAI client are exported by
// their owners' index files (src/engine, src/backends).
export type * from './backends/types.js';
export * from './energy/index.js';
export * from './runner/index.js';
export * from './load/index.js';
export * from './results/index.js';
export * from './config/index.js';
export * from './datasets/index.js';
export * from './text/index.js';
export * from './formatters/index.js';
export { EXIT, CliError } from './cli/errors.js';
