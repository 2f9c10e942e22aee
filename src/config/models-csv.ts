// The batch runner's models CSV (old AIEnergyScore format): `Models to Add` (Hugging Face id,
// full URL or local checkpoint path), `Priority (1=hi)`, `Class`, `Task`, `Reasoning State`,
// `Chat Template`.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { looksLikeLocalPath, normalizeModelId } from '../formatters/registry.js';

export interface ModelEntry {
  /**
   * What the run loads and records: normalised "org/name" for a Hugging Face id or URL, the path
   * itself for a local checkpoint (the reasoning registry keys on its last segment).
   */
  model: string;
  /** True when `model` is a local checkpoint path. */
  local: boolean;
  /** The cell as written (may be a URL). */
  source: string;
  priority: number | null;
  modelClass: string;
  task: string;
  reasoningState: string;
  chatTemplate: string;
  /** 1-based line of the record in the file (header = 1). */
  line: number;
}

export interface ModelFilters {
  modelName?: string;
  modelClass?: string;
  task?: string;
  reasoningState?: string;
}

export class ModelsCsvError extends Error {
  override name = 'ModelsCsvError';
}

export const MODELS_CSV_COLUMNS = ['Models to Add', 'Priority (1=hi)', 'Class', 'Task', 'Reasoning State', 'Chat Template'] as const;
const REQUIRED = ['Models to Add', 'Reasoning State'] as const;

/** A URL (any scheme) or a huggingface.co/… address: never a local path. */
const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*:\/\/|(?:www\.)?(?:huggingface\.co|hf\.co)\/)/i;

const isDirectory = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * The model cell as a local checkpoint path, or null for a Hugging Face id or URL. A path is
 * absolute, ./ or ../ relative (to the working directory, like --model), ~/ (the home
 * directory), or any cell naming an existing directory; trailing separators are dropped.
 */
export function localModelPath(cell: string, cwd = process.cwd()): string | null {
  const text = cell.trim();
  if (text === '' || URL_LIKE.test(text)) return null;
  const path = text.replace(/(.)[\\/]+$/, '$1');
  if (looksLikeLocalPath(path)) return /^~[\\/]/.test(path) ? join(homedir(), path.slice(2)) : path;
  return isDirectory(resolve(cwd, path)) ? path : null;
}

export function parseModelsCsvText(text: string, file = 'models CSV'): ModelEntry[] {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: (h: string[]) => h.map((c) => c.trim()), bom: true, skip_empty_lines: true, relax_column_count: true, info: false }) as Record<string, string>[];
  } catch (e) {
    throw new ModelsCsvError(`${file}: not a well-formed CSV file (${(e as Error).message})`);
  }
  if (records.length > 0) {
    const missing = REQUIRED.filter((c) => !(c in records[0]!));
    if (missing.length) throw new ModelsCsvError(`${file}: missing column(s) ${missing.map((m) => `"${m}"`).join(', ')} (expected ${MODELS_CSV_COLUMNS.join(', ')})`);
  }
  const out: ModelEntry[] = [];
  records.forEach((r, i) => {
    const source = (r['Models to Add'] ?? '').trim();
    if (!source) return; // spreadsheet filler rows
    const pr = (r['Priority (1=hi)'] ?? '').trim();
    const path = localModelPath(source);
    out.push({
      model: path ?? normalizeModelId(source),
      local: path !== null,
      source,
      priority: pr === '' || Number.isNaN(Number(pr)) ? null : Number(pr),
      modelClass: (r['Class'] ?? '').trim(),
      task: (r['Task'] ?? '').trim(),
      reasoningState: (r['Reasoning State'] ?? '').trim(),
      chatTemplate: (r['Chat Template'] ?? '').trim(),
      line: i + 2,
    });
  });
  return out;
}

export async function parseModelsCsv(file: string): Promise<ModelEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ModelsCsvError(`cannot read models file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseModelsCsvText(text, file);
}

const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');

/** --model-name: substring, case-insensitive; the others: exact, case-insensitive. */
export function filterModels(entries: readonly ModelEntry[], f: ModelFilters): ModelEntry[] {
  return entries.filter((e) =>
    (!f.modelName || e.source.toLowerCase().includes(f.modelName.toLowerCase()) || e.model.toLowerCase().includes(f.modelName.toLowerCase())) &&
    (!f.modelClass || norm(e.modelClass) === norm(f.modelClass)) &&
    (!f.task || norm(e.task) === norm(f.task)) &&
    (!f.reasoningState || norm(e.reasoningState) === norm(f.reasoningState)));
}
