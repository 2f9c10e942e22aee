// `aeb migrate-csv`: brings a master_results.csv from the old layouts to ours.
// avg_latency_seconds → avg_total_time, avg_time_to_first_token inserted (empty for
// historical rows: never a fake 0), new columns appended empty. Every other value is kept
// byte-for-byte. A backup is written first; the result is re-read and verified against the
// original (row count and every value) and the backup is restored if anything differs.
// Running it again on a migrated file changes nothing. A file that is not UTF-8, or that
// another process (the old system does not take our lock) appends to meanwhile, is left as it is.
import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { decodeUtf8Strict } from '../util/strict-utf8.js';
import { MASTER_COLUMNS, RENAMED_COLUMNS } from './columns.js';
import { CsvFormatError, csvRecords, parseCsvText, type CsvTable } from './csv-file.js';
import { headerKind, ResultsFileError } from './master-csv.js';
import { replaceFileDurably } from './durable.js';
import { withFileLock } from './lock.js';

export interface MigrationReport {
  file: string;
  status: 'migrated' | 'already-current';
  rows: number;
  fromColumns: number;
  toColumns: number;
  backup: string | null;
}


/** Target column → source column index (or -1 = new, empty). */
function columnMap(header: readonly string[]): number[] {
  const src = new Map(header.map((h, i) => [RENAMED_COLUMNS[h] ?? h, i]));
  return MASTER_COLUMNS.map((c) => src.get(c) ?? -1);
}

function migrateTable(t: CsvTable): string[][] {
  const map = columnMap(t.header);
  return t.rows.map((r) => map.map((i) => (i < 0 ? '' : r[i]!)));
}

function verify(original: CsvTable, migrated: CsvTable, file: string): void {
  if (migrated.rows.length !== original.rows.length)
    throw new ResultsFileError(`${file}: verification failed: ${original.rows.length} rows before, ${migrated.rows.length} after`);
  const map = columnMap(original.header);
  for (let r = 0; r < original.rows.length; r++) {
    for (let c = 0; c < MASTER_COLUMNS.length; c++) {
      const expected = map[c]! < 0 ? '' : original.rows[r]![map[c]!]!;
      if (migrated.rows[r]![c] !== expected)
        throw new ResultsFileError(`${file}: verification failed at row ${r + 1}, column ${MASTER_COLUMNS[c]}`);
    }
  }
}

function backupName(file: string): string {
  return `${file}.${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.bak`;
}

/** Same file, same size and modification time as when it was read. */
function unchanged(before: Stats, now: Stats, bytesRead: number): boolean {
  return now.ino === before.ino && now.size === before.size && now.size === bytesRead && now.mtimeMs === before.mtimeMs;
}

export async function migrateMasterCsv(file: string): Promise<MigrationReport> {
  return withFileLock(file, async () => {
    let bytes: Buffer;
    let before: Stats;
    try {
      before = await stat(file);
      bytes = await readFile(file);
    } catch (e) {
      throw new ResultsFileError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let text: string;
    try {
      text = decodeUtf8Strict(bytes, file);
    } catch (e) {
      throw new ResultsFileError(`${(e as Error).message}; left untouched`);
    }
    const original = parseCsvText(text, file);
    const kind = headerKind(original.header);
    if (kind === 'current')
      return { file, status: 'already-current', rows: original.rows.length, fromColumns: original.header.length, toColumns: MASTER_COLUMNS.length, backup: null };
    if (kind === 'unknown')
      throw new CsvFormatError(`${file}: not a recognised master_results.csv layout (header starts ${original.header.slice(0, 4).join(', ')}; ${original.header.length} columns); left untouched`);

    const out = (original.bom ? '\ufeff' : '') + csvRecords([MASTER_COLUMNS, ...migrateTable(original)], original.eol);
    // The backup is the bytes migrated, not a later copy of a file someone may be appending to.
    let backup = backupName(file);
    for (let i = 1; ; i++) {
      try {
        await writeFile(backup, bytes, { flag: 'wx' });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 100) throw e;
        backup = `${backupName(file)}.${i}`;
      }
    }
    // Last look before the rename (a writer could still slip into the moment between the two).
    if (!unchanged(before, await stat(file), bytes.length)) {
      await rm(backup, { force: true });
      throw new ResultsFileError(`${file}: changed while migrating (another process is writing to it?); left as it is: run again when nothing writes to it`);
    }
    await replaceFileDurably(file, out);
    try {
      verify(original, parseCsvText(await readFile(file, 'utf8'), file), file);
    } catch (e) {
      await copyFile(backup, file);
      throw e;
    }
    return { file, status: 'migrated', rows: original.rows.length, fromColumns: original.header.length, toColumns: MASTER_COLUMNS.length, backup };
  });
}
