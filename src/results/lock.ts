// Advisory lock file shared by every writer of a results file (our processes only), holding
// the owner's pid. Used around appends and migrations so rows never interleave.
// Invariant: a live owner's lock file is never seen empty — it is written in full beside its
// name and hard-linked into place (link fails if the name exists), so an empty lock file is
// debris (a crash or a full disk) and is broken at once, like one naming a pid that is not
// running. A lock whose owner is alive is broken only when older than staleMs.
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rm, stat } from 'node:fs/promises';
import { writeDurably } from './durable.js';
import { ResultsFileError } from './errors.js';

export interface LockOptions {
  timeoutMs?: number;
  staleMs?: number;
}

export class LockTimeoutError extends Error {
  override name = 'LockTimeoutError';
}

/** File systems without hard links (FAT, some network and FUSE mounts) answer link() with these. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

function ownerAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(lockPath: string): Promise<{ text: string; ino: number; mtimeMs: number } | null> {
  try {
    const st = await stat(lockPath);
    return { text: await readFile(lockPath, 'utf8'), ino: st.ino, mtimeMs: st.mtimeMs };
  } catch {
    return null; // vanished meanwhile
  }
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<void> {
  const seen = await readLock(lockPath);
  if (!seen) return;
  const pid = Number(seen.text.split('\n')[0]);
  const stale = seen.text.length === 0 || !ownerAlive(pid) || Date.now() - seen.mtimeMs > staleMs;
  if (!stale) return;
  // Someone else may have broken it and taken the lock meanwhile: remove only the file judged.
  const now = await readLock(lockPath);
  if (now && now.ino === seen.ino && now.text === seen.text) await rm(lockPath, { force: true });
}

/** Removes `path`, keeping the first error (the one the caller reports). */
const removeQuietly = (path: string) => rm(path, { force: true }).catch(() => undefined);

/** Creates the lock file holding `content`; false when it exists. A failed attempt leaves no file behind. */
async function createLock(lockPath: string, content: string): Promise<boolean> {
  const staged = `${lockPath}.${process.pid}-${randomBytes(4).toString('hex')}`;
  let linkError: NodeJS.ErrnoException;
  try {
    await writeDurably(staged, content, 'wx', { sync: false });
    await link(staged, lockPath);
    return true;
  } catch (e) {
    linkError = e as NodeJS.ErrnoException;
    if (linkError.code === 'EEXIST') return false;
  } finally {
    await removeQuietly(staged);
  }
  if (!NO_HARD_LINKS.has(linkError.code ?? '')) throw linkError;
  // No hard links here: create in place. The file is empty for the moment between open and
  // write, where another process could take it for debris (see the header).
  let h;
  try {
    h = await open(lockPath, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await h.writeFile(content);
    await h.close();
    return true;
  } catch (e) {
    await h.close().catch(() => undefined);
    await removeQuietly(lockPath);
    throw e;
  }
}

export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = `${file}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  const staleMs = opts.staleMs ?? 60_000;
  // The pid first (what other processes check); the rest tells this holder's lock from any other.
  const content = `${process.pid}\n${new Date().toISOString()}\n${randomBytes(6).toString('hex')}\n`;
  for (let attempt = 0; ; attempt++) {
    let created: boolean;
    try {
      created = await createLock(lockPath, content);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw Object.assign(new ResultsFileError(`cannot create the lock file ${lockPath}: ${err.message}`, { cause: e }), err.code ? { code: err.code } : {});
    }
    if (created) break;
    if (Date.now() > deadline)
      throw new LockTimeoutError(`${file} is locked by another writer (${lockPath}); remove the lock file if no aeb process is running`);
    await breakIfStale(lockPath, staleMs);
    await new Promise((r) => setTimeout(r, 5 + Math.min(50, attempt * 5) * Math.random()));
  }
  try {
    return await fn();
  } finally {
    // Still ours unless it was broken as too old and taken by another writer meanwhile.
    const now = await readLock(lockPath);
    if (now?.text === content) await rm(lockPath, { force: true });
  }
}
