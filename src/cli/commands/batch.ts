// aeb batch --models models.csv: one run per (model, reasoning state) row of the old models
// CSV, into <output-dir>/{master_results.csv, logs/, individual_runs/}.
import { join } from 'node:path';
import type { Command } from 'commander';
import { readConfigObject, validateConfig } from '../../config/load.js';
import { filterModels, parseModelsCsv } from '../../config/models-csv.js';
import { applyOverrides, parseOverride } from '../../config/overrides.js';
import { assertAppendable } from '../../results/master-csv.js';
import { dryRunView, planBatch, REASONING_OFF_NEW_TOKENS, REASONING_ON_MAX_NEW_TOKENS, runBatch, type PlannedRun } from '../../runner/batch.js';
import { prepareOutputDir } from '../../runner/pipeline.js';
import { CliError, EXIT, type ExitCode } from '../errors.js';
import { installInterruptHandler } from '../interrupt.js';
import { createLogger, printJsonLine, whileWritingFiles, writeStdout } from '../output.js';
import { createProgress } from '../progress.js';
import { pipelineDeps } from '../wiring.js';
import { backendFromFlags, outcomeExitCode, outcomeLabel, parseIntOption, runJson, splitArgs, withContextCheck } from './shared.js';

/** What to change when a row's token budget cannot fit the native model's context. */
export const BATCH_CONTEXT_ADVICE =
  `a batch run allows up to ${REASONING_ON_MAX_NEW_TOKENS} new tokens with reasoning On (exactly ${REASONING_OFF_NEW_TOKENS} Off): ` +
  "raise backend.max_seq_len (e.g. `aeb batch --models FILE backend.max_seq_len=N`) up to the model's max_position_embeddings, " +
  'or list this model with Reasoning State Off';

/** `outputDir` unset: the config's own (results.output_dir, else ./results). */
export function batchRunOverrides(run: PlannedRun, opts: { backend?: string; endpoint?: string; numPrompts?: number; outputDir?: string }): string[] {
  const out = [
    `backend.model=${JSON.stringify(run.model)}`,
    `scenario.generate_kwargs.max_new_tokens=${run.max_new_tokens}`,
    `scenario.generate_kwargs.min_new_tokens=${run.min_new_tokens}`,
  ];
  if (opts.outputDir !== undefined) out.push(`results.output_dir=${JSON.stringify(opts.outputDir)}`);
  const backend = backendFromFlags(opts.backend, opts.endpoint);
  if (backend) out.push(`backend.type=${backend}`);
  if (opts.endpoint) out.push(`backend.endpoint=${JSON.stringify(opts.endpoint)}`);
  if (opts.numPrompts !== undefined) out.push(`scenario.num_samples=${opts.numPrompts}`);
  return out;
}

function formatPlanLine(p: PlannedRun): string {
  if (p.error) return `  SKIP ${p.model} [${p.reasoning_state}]: ${p.error}`;
  return `  ${p.model} [${p.reasoning_state}] class=${p.model_class || '-'} task=${p.task || '-'} format=${p.prompt_format} (${p.reasoning_label}) ` +
    `params=${JSON.stringify(p.reasoning_params)} max_new_tokens=${p.max_new_tokens} min_new_tokens=${p.min_new_tokens}`;
}

export function register(program: Command): void {
  program
    .command('batch')
    .description('run every (model, reasoning state) of a models CSV (old batch runner format)')
    .argument('[args...]', 'optional base config file and/or a.b.c=value overrides applied to every run')
    .requiredOption('--models <file>', 'models CSV (Models to Add, Priority (1=hi), Class, Task, Reasoning State, Chat Template)')
    .option('--model-name <text>', 'only models whose id contains this text (case-insensitive)')
    .option('--class <class>', 'only this model class (A, B or C)')
    .option('--task <task>', 'only this task')
    .option('--reasoning-state <state>', 'only this reasoning state (e.g. "On (High)")')
    .option('--num-prompts <n>', 'prompts per run', parseIntOption('num-prompts'))
    .option('--output-dir <dir>', 'results directory (default: results.output_dir of the config, else ./results)')
    .option('--backend <type>', 'pytorch/native or vllm/openai (default: vllm when --endpoint is given, else native)')
    .option('--endpoint <url>', 'OpenAI-compatible server URL (vLLM)')
    .option('--dry-run', 'print the planned runs and exit')
    .option('--resume', 'skip runs already recorded in master_results.csv')
    .option('--json', 'JSON lines on stdout (one per planned run with --dry-run, one per run otherwise)')
    .option('-q, --quiet', 'no progress or log output')
    .action(async (args: string[], opts: Record<string, any>) => {
      const log = createLogger({ quiet: opts.quiet === true });
      const { file, overrides } = await splitArgs(args);
      const base = file ? await readConfigObject(file) : {};
      const entries = filterModels(await parseModelsCsv(opts.models), {
        modelName: opts.modelName, modelClass: opts.class, task: opts.task, reasoningState: opts.reasoningState,
      });
      if (entries.length === 0) throw new CliError(`no model in ${opts.models} matches the filters`);
      const plan = planBatch(entries);
      const runOpts = { backend: opts.backend, endpoint: opts.endpoint, numPrompts: opts.numPrompts, outputDir: opts.outputDir as string | undefined };
      const validated = (run: PlannedRun, dir: string | undefined) =>
        validateConfig(applyOverrides(base, [...overrides, ...batchRunOverrides(run, { ...runOpts, outputDir: dir })].map(parseOverride)), file);
      // Validate the shared part once, so a bad flag fails before any run; it also settles the
      // batch's one results directory (master_results.csv, logs/, individual_runs/).
      const firstRunnable = plan.find((p) => !p.error);
      let outputDir = runOpts.outputDir ?? './results';
      if (firstRunnable) {
        const first = validated(firstRunnable, runOpts.outputDir);
        for (const w of first.warnings.filter((w) => w.includes('output_dir'))) log.warn(w);
        outputDir = first.config.results.output_dir;
      }
      const masterCsv = join(outputDir, 'master_results.csv');
      const configFor = (run: PlannedRun) => {
        const config = validated(run, outputDir).config;
        config.results.master_csv = masterCsv;
        return config;
      };

      if (opts.dryRun) {
        if (opts.json) for (const p of plan) printJsonLine(dryRunView(p));
        else writeStdout(`${plan.length} planned run(s):\n${plan.map(formatPlanLine).join('\n')}\n`);
        process.exitCode = plan.some((p) => p.error) ? EXIT.USAGE : EXIT.OK;
        return;
      }

      // An unusable directory or an old-layout or foreign master file would fail every run: stop now with the fix.
      await prepareOutputDir(outputDir);
      await assertAppendable(masterCsv);
      const interrupt = installInterruptHandler({ onSignal: (s) => log.warn(`${s}: stopping the batch after writing finished results`) });
      let worst: ExitCode = EXIT.OK;
      const rank = (c: ExitCode) => (c === EXIT.OK ? 0 : c === EXIT.PARTIAL ? 1 : 2);
      try {
        let progress = createProgress('batch', log, { quiet: opts.quiet === true });
        const deps = withContextCheck(pipelineDeps({ signal: interrupt.signal, onProgress: (e) => progress.update(e), onRecord: (r) => progress.record(r) }), BATCH_CONTEXT_ADVICE);
        const outcome = await whileWritingFiles(() => runBatch(plan, deps, {
          configFor, outputDir, resume: opts.resume === true, masterCsv,
          log: (m) => log.info(m),
          onRunDone: (run, o, skipped) => {
            progress.stop();
            progress = createProgress('batch', log, { quiet: opts.quiet === true });
            if (o) {
              if (opts.json) printJsonLine(runJson(o, { model: run.model, reasoning_state: run.reasoning_state, model_class: run.model_class, task: run.task }));
              const code = outcomeExitCode(o, null);
              if (rank(code) > rank(worst)) worst = code === EXIT.PARTIAL ? code : EXIT.RUN_FAILED;
            } else if (skipped && !skipped.startsWith('already')) {
              if (opts.json) printJsonLine({ model: run.model, reasoning_state: run.reasoning_state, status: 'skipped', error: skipped });
              worst = EXIT.RUN_FAILED;
            }
          },
        }));
        progress.stop();
        const ran = outcome.runs.filter((r) => r.outcome);
        // "failed" also covers a run that completed without one successful prompt.
        log.info(`batch: ${ran.length} run(s), ${ran.filter((r) => outcomeLabel(r.outcome!) === 'failed').length} failed, ${outcome.runs.length - ran.length} skipped; results in ${outputDir}`);
        process.exitCode = interrupt.exitCode() ?? worst;
      } finally {
        interrupt.dispose();
      }
    });
}
