// Durable writes of complete texts. Appends: the whole text in one write() (more only if the
// kernel writes short) followed by fsync; a failed append is cut back off the file, so a full
// disk never leaves half a row. Whole files: written beside their target, flushed and renamed
// over it, so a reader (and a reboot) sees the old file or the complete new one, never a
// truncated one. Shared by master-row appends, per-run files, lock files and migrations.
import { randomBytes } from 'node:crypto';
import { chmod, open, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ResultsFileError } from './errors.js';

export interface DurableOptions {
  /**
   * false skips the fsync (still whole writes): used after an interrupt, where the exit
   * deadline wins — the bytes outlive the process, only a machine crash in the next seconds
   * could lose them.
   */
  sync?: boolean;
}

/** Writes all of `bytes`: a short write (quota, file size limit) continues, and the next write reports the error. */
async function writeAll(h: FileHandle, bytes: Buffer): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    const { bytesWritten } = await h.write(bytes, offset, bytes.length - offset);
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    offset += bytesWritten;
  }
}

/**
 * `flag` 'a' appends to the file (callers hold its lock: the file's size when opened is where
 * a failed append is cut back to); 'wx' creates it and fails if it exists (a failed write
 * leaves it for the caller to remove).
 */
export async function writeDurably(path: string, text: string, flag: 'a' | 'wx', opts: DurableOptions = {}): Promise<void> {
  const h = await open(path, flag);
  try {
    const sizeBefore = flag === 'a' ? (await h.stat()).size : 0;
    try {
      await writeAll(h, Buffer.from(text, 'utf8'));
      if (opts.sync ?? true) await h.sync();
    } catch (e) {
      if (flag === 'a') await h.truncate(sizeBefore).catch(() => undefined);
      throw e;
    }
  } finally {
    await h.close();
  }
}

/** Makes a rename in `dir` durable; file systems that cannot sync a directory are skipped. */
async function syncDirectory(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EACCES') throw e;
  } finally {
    await h?.close();
  }
}

/**
 * Replaces (or creates) `path` with `text`: written to `PATH.partial-PID-RANDOM` beside its
 * target (a symlink stays one), flushed, renamed over it. A replaced file keeps its mode. On
 * any failure the partial file is removed and a ResultsFileError names `path`.
 */
export async function replaceFileDurably(path: string, text: string, opts: DurableOptions = {}): Promise<void> {
  let partial: string | undefined;
  try {
    const target = await realpath(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return path;
      throw e;
    });
    const previousMode = await stat(target).then((st) => st.mode & 0o7777, () => undefined);
    partial = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeDurably(partial, text, 'wx', opts);
    if (previousMode !== undefined) await chmod(partial, previousMode);
    await rename(partial, target);
    partial = undefined;
    if (opts.sync ?? true) await syncDirectory(dirname(target));
  } catch (e) {
    if (partial !== undefined) await rm(partial, { force: true }).catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    throw Object.assign(new ResultsFileError(`cannot write ${path}: ${err.message}`, { cause: e }), err.code ? { code: err.code } : {});
  }
}
