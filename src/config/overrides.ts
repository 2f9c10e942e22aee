// Command-line overrides `a.b.c=value` (the old system's hydra-style syntax). Values are read
// as YAML scalars/flow collections so `false` is false, `8192` a number, `[0]` a list and
// `{reasoning_effort: high}` a map; anything YAML cannot read stays a string.
import { parse as parseYaml } from 'yaml';

export interface Override {
  path: string[];
  value: unknown;
  raw: string;
}

export class OverrideError extends Error {
  override name = 'OverrideError';
}

const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function looksLikeOverride(arg: string): boolean {
  const eq = arg.indexOf('=');
  return eq > 0 && /^\+{0,2}[A-Za-z_][A-Za-z0-9_.-]*$/.test(arg.slice(0, eq));
}

export function parseOverride(arg: string): Override {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new OverrideError(`override "${arg}" must look like a.b.c=value`);
  const key = arg.slice(0, eq).replace(/^\+{1,2}/, '');
  const path = key.split('.');
  const bad = path.find((p) => !KEY.test(p));
  if (bad !== undefined) throw new OverrideError(`override "${arg}": "${bad}" is not a valid key segment`);
  const text = arg.slice(eq + 1);
  let value: unknown = text;
  if (text.trim() !== '') {
    try {
      value = parseYaml(text);
    } catch {
      value = text;
    }
  } else {
    value = '';
  }
  return { path, value, raw: arg };
}

/** Sets each override on a deep copy of `config`, creating intermediate maps. */
export function applyOverrides(config: Record<string, unknown>, overrides: readonly Override[]): Record<string, unknown> {
  const out = structuredClone(config);
  for (const o of overrides) {
    let node: Record<string, unknown> = out;
    for (const seg of o.path.slice(0, -1)) {
      const next = node[seg];
      if (next === undefined || next === null) node[seg] = {};
      else if (typeof next !== 'object' || Array.isArray(next))
        throw new OverrideError(`override "${o.raw}": ${o.path.slice(0, o.path.indexOf(seg) + 1).join('.')} is not a map`);
      node = node[seg] as Record<string, unknown>;
    }
    node[o.path[o.path.length - 1]!] = o.value;
  }
  return out;
}
