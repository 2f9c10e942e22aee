// Reading CSV files written by either system: BOM, CRLF or LF, quoted fields with commas
// and newlines. Values are returned exactly as stored (no trimming, no casting).
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

export interface CsvTable {
  header: string[];
  rows: string[][];
  /** Record delimiter of the file ('\r\n' for files from Python's csv module). */
  eol: '\n' | '\r\n';
  bom: boolean;
}

export class CsvFormatError extends Error {
  override name = 'CsvFormatError';
}

export function detectEol(text: string): '\n' | '\r\n' {
  const nl = text.indexOf('\n');
  return nl > 0 && text[nl - 1] === '\r' ? '\r\n' : '\n';
}

export function parseCsvText(text: string, file: string): CsvTable {
  const bom = text.charCodeAt(0) === 0xfeff;
  const body = bom ? text.slice(1) : text;
  let records: string[][];
  try {
    records = parse(body, { relax_column_count: false, skip_empty_lines: true, bom: false }) as string[][];
  } catch (e) {
    throw new CsvFormatError(`${file}: not a well-formed CSV file (${(e as Error).message})`);
  }
  if (records.length === 0) throw new CsvFormatError(`${file}: empty file (no header row)`);
  return { header: records[0]!, rows: records.slice(1), eol: detectEol(body), bom };
}

export async function readCsvFile(file: string): Promise<CsvTable> {
  return parseCsvText(await readFile(file, 'utf8'), file);
}

/** One or more complete CSV records, quoted wherever Python's QUOTE_MINIMAL would (and on CR/LF). */
export function csvRecords(rows: readonly (readonly string[])[], eol: '\n' | '\r\n' = '\n'): string {
  return stringify(rows as string[][], { record_delimiter: eol, quoted_match: /[\r\n]/ });
}
