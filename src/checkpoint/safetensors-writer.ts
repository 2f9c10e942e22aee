// Writes the safetensors format: u64 little-endian header length, a JSON header (padded with
// spaces to 8-byte alignment), then the raw little-endian tensor bytes in header order.
// Used by the llama2.c converter, the built-in default model and test fixtures.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';

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

/**
 * Writes tensors to `path` in the order given (streams the data; no full copy in memory). The
 * file is written beside `path` and renamed over it when complete, so a process loading the
 * old file meanwhile keeps reading the old bytes, and nobody ever sees a half-written one.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const header = buildSafetensorsHeader(tensors, metadata);
  const partial = `${path}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = await open(partial, 'wx');
  try {
    try {
      await file.write(header);
      for (const t of tensors) {
        // Typed arrays are little-endian on every platform Node supports for this project (x86-64, arm64).
        await file.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      }
    } finally {
      await file.close();
    }
    await rename(partial, path);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
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
