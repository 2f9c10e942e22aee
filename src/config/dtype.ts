// The one table of compute dtype spellings, shared by the config schema (`backend.torch_dtype`,
// `aeb run --dtype`) and `aeb generate --dtype`: the old configs' names and the engine's short ones.
export type EngineDtype = 'f32' | 'bf16' | 'f16';

const DTYPES = {
  auto: undefined, float32: 'f32', f32: 'f32', bfloat16: 'bf16', bf16: 'bf16', float16: 'f16', f16: 'f16',
} as const satisfies Record<string, EngineDtype | undefined>;

export type DtypeName = keyof typeof DTYPES;
export const DTYPE_NAMES = Object.keys(DTYPES) as [DtypeName, ...DtypeName[]];

/** 'bfloat16' → 'bf16', 'auto' → undefined (the engine's default); throws RangeError for other names. */
export function parseDtype(name: string): EngineDtype | undefined {
  if (!Object.hasOwn(DTYPES, name)) throw new RangeError(`dtype "${name}" is not supported; use one of ${DTYPE_NAMES.join(', ')}`);
  return DTYPES[name as DtypeName];
}
