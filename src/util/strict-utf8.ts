// Text files read as UTF-8 must be UTF-8: a lenient decode turns other encodings' bytes (a
// cp1252 "é") into U+FFFD without a word, which would change a prompt or a results value.
import { isUtf8 } from 'node:buffer';

/** The 1-based line of the first byte sequence that is not UTF-8, or null when all of it is. */
export function firstNonUtf8Line(bytes: Buffer): number | null {
  if (isUtf8(bytes)) return null;
  // Find the first bad sequence by decoding prefixes line by line (only on the error path).
  let line = 1;
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl < 0 ? bytes.length : nl + 1;
    if (!isUtf8(bytes.subarray(start, end))) return line;
    if (nl < 0) return line;
    start = end;
    line++;
  }
}

/** `bytes` as text, or an Error naming `what` and the line when they are not UTF-8. */
export function decodeUtf8Strict(bytes: Buffer, what: string): string {
  const bad = firstNonUtf8Line(bytes);
  if (bad !== null) {
    throw new Error(`${what} is not UTF-8 text (line ${bad}); convert it first, e.g. \`iconv -f cp1252 -t utf-8\``);
  }
  return bytes.toString('utf8');
}
