// The error of every results-file problem (exit code 5, see cli/errors.ts): a file that
// cannot be written, read back, appended to or migrated. Its message names the file.
export class ResultsFileError extends Error {
  override name = 'ResultsFileError';
}
