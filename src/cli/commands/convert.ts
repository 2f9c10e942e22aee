// `aeb convert llama2c IN.bin OUT_DIR`: llama2.c checkpoint → HF directory for the engine.
import type { Command } from 'commander';
import { convertLlama2c, Llama2cFormatError } from '../../convert/llama2c.js';
import { CliError, EXIT } from '../errors.js';
import { writeStdout } from '../output.js';

export async function runConvertLlama2c(inPath: string, outDir: string): Promise<string> {
  try {
    const r = await convertLlama2c(inPath, outDir);
    const h = r.header;
    return [
      `converted ${inPath} → ${outDir}`,
      `  dim ${h.dim}, hidden ${h.hiddenDim}, layers ${h.nLayers}, heads ${h.nHeads}/${h.nKvHeads} kv, vocab ${h.vocabSize}, seq ${h.seqLen}, ${h.sharedClassifier ? 'tied' : 'separate'} head`,
      `  ${r.parameters.toLocaleString('en-US')} parameters`,
      ...r.files.map((f) => `  wrote ${f}`),
    ].join('\n');
  } catch (err) {
    if (err instanceof Llama2cFormatError) throw new CliError(err.message, EXIT.USAGE, { cause: err });
    const e = err as NodeJS.ErrnoException;
    if (e?.code && typeof e.code === 'string' && e.code.startsWith('E')) {
      throw new CliError(`cannot write ${outDir}: ${e.message}`, EXIT.RUN_FAILED, { cause: err });
    }
    throw err;
  }
}

export function register(program: Command): void {
  const convert = program.command('convert').description('Convert checkpoints for the native engine');
  convert
    .command('llama2c')
    .description('llama2.c checkpoint (.bin) → Hugging Face Llama directory (config.json, model.safetensors)')
    .argument('<in>', 'llama2.c .bin checkpoint')
    .argument('<outDir>', 'output directory (created)')
    .action(async (inPath: string, outDir: string) => {
      writeStdout(`${await runConvertLlama2c(inPath, outDir)}\n`);
    });
}
