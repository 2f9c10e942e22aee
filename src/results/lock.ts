// Advisory lock file shared by every writer of a results file (our processes only): created
// with O_EXCL, holding the owner's pid; a lock whose owner is gone (or older than staleMs)
// is broken. Used around appends and migrations so rows never interleave.
import { open, readFile, rm, stat } from 'node:fs/promises';

export interface LockOptions {
  timeoutMs?: number;
  staleMs?: number;
}

export class LockTimeoutError extends Error {
  override name = 'LockTimeoutError';
}

function ownerAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<void> {
  try {
    const [text, st] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    const pid = Number(text.split('\n')[0]);
    const old = Date.now() - st.mtimeMs > staleMs;
    // An empty lock file is one being written right now, unless it is old.
    if ((text.length > 0 && !ownerAlive(pid)) || old) await rm(lockPath, { force: true });
  } catch {
    // Vanished meanwhile: nothing to break.
  }
}

export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = `${file}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  const staleMs = opts.staleMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    try {
      const h = await open(lockPath, 'wx');
      try {
        await h.writeFile(`${process.pid}\n${new Date().toISOString()}\n`);
      } finally {
        await h.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (Date.now() > deadline)
        throw new LockTimeoutError(`${file} is locked by another writer (${lockPath}); remove the lock file if no aeb process is running`);
      await breakIfStale(lockPath, staleMs);
      await new Promise((r) => setTimeout(r, 5 + Math.min(50, attempt * 5) * Math.random()));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}
