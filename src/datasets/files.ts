// Prompt texts from local files: JSONL (one object per line), CSV (header row) and Parquet
// (hyparquet). `column` names the text field; every row must carry a string there.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
// Codecs hyparquet lacks on its own: ZSTD (Polars' default), Brotli, LZ4, and a faster Snappy.
import { compressors } from 'hyparquet-compressors';
import { decodeUtf8Strict } from '../util/strict-utf8.js';

export class DatasetError extends Error {
  override name = 'DatasetError';
}

export type DatasetFormat = 'jsonl' | 'csv' | 'parquet';

export function formatOf(file: string): DatasetFormat | null {
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.parquet') return 'parquet';
  return null;
}

function pickText(row: unknown, column: string, file: string, where: string, available: () => string[]): string {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new DatasetError(`${file}: ${where} is not an object`);
  const v = (row as Record<string, unknown>)[column];
  if (v === undefined) throw new DatasetError(`${file}: ${where} has no column "${column}" (available: ${available().join(', ') || 'none'}); choose one with --text-column NAME (config: scenario.text_column_name)`);
  if (typeof v !== 'string') throw new DatasetError(`${file}: ${where}: column "${column}" is ${v === null ? 'null' : typeof v}, expected text`);
  // A blank prompt measures nothing (WikiText has many such rows): refused, not sent.
  if (v.trim() === '') throw new DatasetError(`${file}: ${where}: column "${column}" is ${v === '' ? 'empty' : 'blank'}; remove rows without a prompt`);
  return v;
}

/** The file as UTF-8 text; a DatasetError naming the file and line when it is not UTF-8. */
async function readUtf8(file: string): Promise<string> {
  const bytes = await readFile(file);
  try {
    return decodeUtf8Strict(bytes, file);
  } catch (e) {
    throw new DatasetError((e as Error).message);
  }
}

async function readJsonl(file: string, column: string): Promise<string[]> {
  const text = await readUtf8(file);
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DatasetError(`${file}: line ${i + 1} is not valid JSON (${(e as Error).message})`);
    }
    out.push(pickText(row, column, file, `line ${i + 1}`, () => Object.keys(row as object)));
  }
  return out;
}

async function readCsvRows(file: string, column: string): Promise<string[]> {
  const text = await readUtf8(file);
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(text, { columns: true, bom: true, skip_empty_lines: true }) as Record<string, string>[];
  } catch (e) {
    throw new DatasetError(`${file}: not a well-formed CSV file (${(e as Error).message})`);
  }
  return rows.map((r, i) => pickText(r, column, file, `row ${i + 2}`, () => Object.keys(r)));
}

async function readParquet(file: string, column: string): Promise<string[]> {
  let buffer;
  let metadata;
  try {
    buffer = await asyncBufferFromFile(file);
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    throw new DatasetError(`${file}: not a readable Parquet file (${(e as Error).message})`);
  }
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  if (!names.includes(column)) throw new DatasetError(`${file}: no column "${column}" (available: ${names.join(', ')}); choose one with --text-column NAME (config: scenario.text_column_name)`);
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: buffer, metadata, columns: [column], compressors });
  } catch (e) {
    // e.g. corrupt pages, or a codec no decompressor here knows (LZO).
    throw new DatasetError(`${file}: cannot read column "${column}" (${(e as Error).message})`);
  }
  return rows.map((r, i) => pickText(r, column, file, `row ${i + 1}`, () => names));
}

export async function readTextColumn(file: string, column: string): Promise<string[]> {
  switch (formatOf(file)) {
    case 'jsonl':
      return readJsonl(file, column);
    case 'csv':
      return readCsvRows(file, column);
    case 'parquet':
      return readParquet(file, column);
    default:
      throw new DatasetError(`${file}: unsupported dataset file type (use .jsonl, .csv or .parquet)`);
  }
}
