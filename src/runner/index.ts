export { completedRuns, dryRunView, planBatch, planRun, REASONING_OFF_NEW_TOKENS, REASONING_ON_MAX_NEW_TOKENS, runBatch, type BatchOptions, type BatchOutcome, type PlannedRun } from './batch.js';
export { generationSettingsOf, loadPlanOf, makeRunId, masterCsvPath, runConfigured, type BackendContext, type PipelineDeps, type PipelineOutcome, type RunMeta, type Tokenizer } from './pipeline.js';
export { formatReasoningPrompts, type FormattedPrompts } from './reasoning.js';
export { runBenchmark, RunSetupError, type ProgressEvent, type RunnerOptions, type RunResult } from './runner.js';
export { describe as describeDistribution, mean, percentileSorted, type Distribution } from './stats.js';
export { evaluateGoodput, hasSlo, type GoodputSummary, type SloTargets } from './goodput.js';
export { buildSummary, partialFailureMessage, SUMMARY_FORMULAS, type EmissionsFigure, type EnergySummary, type RunSummary, type SummaryInput } from './summary.js';
