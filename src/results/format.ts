// Number formatting identical to Python's f"{x:.Nf}" (the old system's writer): exact
// binary value, ties to even. JavaScript's toFixed breaks exact ties upwards instead.

export function pyFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`cannot format ${x} as a fixed-point number`);
  const plain = x.toFixed(digits);
  // Exact decimal expansion (doubles with a tie at `digits` have short expansions).
  const exact = x.toFixed(Math.min(100, digits + 60));
  const tail = exact.slice(exact.indexOf('.') + 1 + digits);
  if (!/^50*$/.test(tail)) return plain;
  // A tie: toFixed rounded away from zero; round to even instead.
  const down = exact.slice(0, exact.length - tail.length).replace(/\.$/, '');
  const lastDigit = Number(down[down.length - 1]);
  return lastDigit % 2 === 0 ? down : plain;
}

/** Fixed-point or '' for unknown (null) values: unknown is never written as 0. */
export function fixedOrEmpty(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '' : pyFixed(x, digits);
}

/** Significant digits a nonzero value keeps in the results files. */
export const MIN_SIGNIFICANT_DIGITS = 3;
/** Beyond this many decimals a value is written in exponent form (e.g. 1.23e-25). */
const MAX_DECIMALS = 20;

/**
 * `digits` decimals (Python's f"{x:.Nf}", the old files' format) when that keeps at least
 * MIN_SIGNIFICANT_DIGITS significant digits, otherwise as many decimals as keep them: a small
 * nonzero value is never written as 0 (0.0000123, not 0.0000). '' for unknown values.
 */
export function decimalOrEmpty(x: number | null | undefined, digits: number): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '';
  if (x === 0) return pyFixed(x, digits);
  const needed = MIN_SIGNIFICANT_DIGITS - 1 - Math.floor(Math.log10(Math.abs(x)));
  if (needed <= digits) return pyFixed(x, digits);
  return needed <= MAX_DECIMALS ? pyFixed(x, needed) : x.toPrecision(MIN_SIGNIFICANT_DIGITS);
}

export function intOrEmpty(x: number | null | undefined): string {
  return x === null || x === undefined ? '' : String(Math.round(x));
}

/**
 * A timestamp as the old system wrote it, Python's datetime.now().isoformat(): local time,
 * no zone designator, microseconds (2025-10-20T14:02:11.512030). A results file holds old and
 * new rows; one kind in the column keeps them comparable (Python refuses to compare naive and
 * zone-aware datetimes). The UTC instant is in report.json (started_at / finished_at).
 */
export function pythonIsoTimestamp(date: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}000`
  );
}
