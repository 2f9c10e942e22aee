// Column layout of master_results.csv. The first 21 columns are the old system's, in its
// order and formats; new columns are only ever appended after them (never reordered).

/** The old system's 21 columns (after its avg_latency_seconds → avg_total_time rename). */
export const LEGACY_COLUMNS = [
  'model_name', 'model_class', 'task', 'reasoning_state',
  'total_prompts', 'successful_prompts', 'failed_prompts',
  'total_duration_seconds', 'avg_total_time', 'avg_time_to_first_token',
  'total_tokens', 'total_prompt_tokens', 'total_completion_tokens',
  'throughput_tokens_per_second', 'gpu_energy_wh', 'wh_per_1000_queries',
  'co2_emissions_g', 'tokens_per_joule', 'avg_energy_per_prompt_wh',
  'timestamp', 'error_message',
] as const;

/** Files written before the TTFT change: avg_latency_seconds in column 9, no column 10. */
export const PRE_RENAME_COLUMNS = [
  ...LEGACY_COLUMNS.slice(0, 8), 'avg_latency_seconds', ...LEGACY_COLUMNS.slice(10),
] as const;

/** Our additions, appended after the legacy columns. Append-only: never reorder or rename. */
export const EXTRA_COLUMNS = [
  'run_id', 'backend', 'device', 'dtype', 'load_mode', 'warmup_requests',
  'p50_ttft_seconds', 'p95_ttft_seconds', 'p99_ttft_seconds', 'avg_time_to_first_output_seconds',
  'avg_tpot_seconds', 'p50_tpot_seconds', 'p95_tpot_seconds', 'p99_tpot_seconds',
  'avg_itl_seconds', 'p50_total_time_seconds', 'p95_total_time_seconds', 'p99_total_time_seconds',
  'output_tokens_per_second', 'requests_per_second',
  'energy_scope', 'energy_method', 'energy_window_seconds', 'cpu_energy_wh', 'gpu_dynamic_energy_wh',
  'gpu_count', 'stop_reason',
] as const;

export const MASTER_COLUMNS: readonly string[] = [...LEGACY_COLUMNS, ...EXTRA_COLUMNS];

export type MasterRow = Record<(typeof LEGACY_COLUMNS)[number] | (typeof EXTRA_COLUMNS)[number], string>;

/** Columns renamed since the old system wrote them: old name → current name. */
export const RENAMED_COLUMNS: Readonly<Record<string, string>> = { avg_latency_seconds: 'avg_total_time' };
