// Prometheus text exposition format (0.0.4) parser: samples with labels, and the declared
// metric types. Pure; malformed lines are collected, never thrown.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromParseResult {
  samples: PromSample[];
  /** `# TYPE` declarations: metric family → counter | gauge | histogram | summary | untyped */
  types: Record<string, string>;
  /** Lines that could not be parsed (1-based line number and text). */
  invalid: { line: number; text: string }[];
}

function parseValue(s: string): number | null {
  switch (s) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default: {
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return null;
      return Number(s);
    }
  }
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** Parse `{a="x",b="y"}` starting at s[i] === '{'. Returns the labels and the index after '}'. */
function parseLabels(s: string, i: number): { labels: Record<string, string>; next: number } | null {
  const labels: Record<string, string> = {};
  i++; // '{'
  for (;;) {
    while (s[i] === ' ' || s[i] === ',') i++;
    if (s[i] === '}') return { labels, next: i + 1 };
    const m = NAME_RE.exec(s.slice(i));
    if (!m) return null;
    const key = m[0];
    i += key.length;
    while (s[i] === ' ') i++;
    if (s[i] !== '=') return null;
    i++;
    while (s[i] === ' ') i++;
    if (s[i] !== '"') return null;
    i++;
    let value = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) return null;
      if (c === '"') break;
      if (c === '\\') {
        const n = s[i + 1];
        value += n === 'n' ? '\n' : n === '\\' ? '\\' : n === '"' ? '"' : `\\${n ?? ''}`;
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    i++; // closing quote
    labels[key] = value;
  }
}

export function parsePrometheusText(text: string): PromParseResult {
  const samples: PromSample[] = [];
  const types: Record<string, string> = {};
  const invalid: { line: number; text: string }[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) types[m[1]!] = m[2]!;
      continue;
    }
    const nameMatch = NAME_RE.exec(line);
    if (!nameMatch) {
      invalid.push({ line: n + 1, text: line });
      continue;
    }
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') {
      const parsed = parseLabels(line, i);
      if (!parsed) {
        invalid.push({ line: n + 1, text: line });
        continue;
      }
      labels = parsed.labels;
      i = parsed.next;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = rest[0] === undefined ? null : parseValue(rest[0]);
    if (value === null) {
      invalid.push({ line: n + 1, text: line });
      continue;
    }
    samples.push({ name, labels, value });
  }
  return { samples, types, invalid };
}
