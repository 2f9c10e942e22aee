export { EXTRA_COLUMNS, LEGACY_COLUMNS, MASTER_COLUMNS, PRE_RENAME_COLUMNS, type MasterRow } from './columns.js';
export { CsvFormatError, csvRecords, parseCsvText, readCsvFile, type CsvTable } from './csv-file.js';
export { decimalOrEmpty, fixedOrEmpty, pyFixed } from './format.js';
export { LockTimeoutError, withFileLock } from './lock.js';
export {
  appendMasterRow, appendMasterRows, assertAppendable, buildFailedRow, buildMasterRow, headerKind, ResultsFileError, rowCells, runErrorMessage,
  type RunIdentity,
} from './master-csv.js';
export { migrateMasterCsv, type MigrationReport } from './migrate.js';
export { buildRunReport, RecordsWriter, toJson, writeRunCsv, writeRunReport, type RunReport } from './run-files.js';
export { replaceFileDurably, writeDurably, type DurableOptions } from './durable.js';
export { isSecretKey, REDACTED, redactSecrets } from './redact.js';
