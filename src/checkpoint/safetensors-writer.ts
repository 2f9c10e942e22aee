// Writes the safetensors format: u64 little-endian header length, a JSON header (padded with
// spaces to 8-byte alignment), then the raw little-endian tensor bytes in header order.
// Used by the llama2.c converter, the built-in default model and test fixtures.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** F32: Float32Array; F16/BF16: Uint16Array of raw half bits. */
  data: Float32Array | Uint16Array;
}

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };

export function buildSafetensorsHeader(
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`safetensors: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) {
      throw new Error(`safetensors: tensor "${t.name}" has shape [${t.shape}] (${elements} elements) but ${t.data.length} values`);
    }
    const expectedArray = t.dtype === 'F32' ? Float32Array : Uint16Array;
    if (!(t.data instanceof expectedArray)) {
      throw new Error(`safetensors: tensor "${t.name}" dtype ${t.dtype} needs a ${expectedArray.name}`);
    }
    const bytes = elements * BYTES_PER_ELEMENT[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(jsonBytes.length));
  return Buffer.concat([prefix, jsonBytes]);
}

// Partial files being written; removed if the process exits mid-write (process.exit()).
const partialFiles = new Set<string>();
let exitCleanupInstalled = false;
function trackPartial(file: string): void {
  if (!exitCleanupInstalled) {
    exitCleanupInstalled = true;
    process.on('exit', () => {
      for (const f of partialFiles) rmSync(f, { force: true });
    });
  }
  partialFiles.add(file);
}

/**
 * Writes tensors to `path` in the order given (streams the data; no full copy in memory). The
 * file is written and flushed beside `path` (beside its target when `path` is a symlink, which
 * stays one) and renamed over it when complete: a process loading the old file meanwhile keeps
 * reading the old bytes, and nobody ever sees a half-written one. A replaced file keeps its mode.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const header = buildSafetensorsHeader(tensors, metadata);
  try {
    const target = await realpath(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return path;
      throw e;
    });
    const previousMode = await stat(target).then((st) => st.mode & 0o7777, () => undefined);
    const partial = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    const file = await open(partial, 'wx');
    trackPartial(partial);
    try {
      try {
        await file.write(header);
        for (const t of tensors) {
          // Typed arrays are little-endian on every platform Node supports for this project (x86-64, arm64).
          await file.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        }
        if (previousMode !== undefined) await file.chmod(previousMode);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(partial, target);
    } finally {
      partialFiles.delete(partial);
      await rm(partial, { force: true });
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw Object.assign(new Error(`cannot write ${path}: ${err.message}`, { cause: e }), err.code ? { code: err.code } : {});
  }
}

/** Round-to-nearest-even conversion of f32 values to bf16 bits. */
export function f32ToBf16Bits(values: Float32Array): Uint16Array {
  const u32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < u32.length; i++) {
    const x = u32[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x007fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40; // keep NaN a (quiet) NaN
    } else {
      out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}
