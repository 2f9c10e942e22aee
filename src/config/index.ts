export { backendKind, ConfigError, loadConfig, readConfigObject, validateConfig, type LoadedConfig } from './load.js';
export { applyOverrides, looksLikeOverride, OverrideError, parseOverride, type Override } from './overrides.js';
export { BACKEND_TYPES, configSchema, type BenchmarkConfig } from './schema.js';
export { filterModels, MODELS_CSV_COLUMNS, ModelsCsvError, parseModelsCsv, parseModelsCsvText, type ModelEntry, type ModelFilters } from './models-csv.js';
