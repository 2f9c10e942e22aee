// Public library API of ai-energy-benchmarks. Engine-side modules (native engine, OpenAI
// client, energy, text) are exported by their owners' index files and re-exported here.
export type * from './backends/types.js';
export type * from './energy/types.js';
export * from './runner/index.js';
export * from './load/index.js';
export * from './results/index.js';
export * from './config/index.js';
export * from './datasets/index.js';
export { EXIT, CliError } from './cli/errors.js';
