// One write() of a complete text followed by fsync: a crash leaves all of it or none of the
// new bytes visible after a reboot. Shared by master-row appends and migrations.
import { open } from 'node:fs/promises';

/**
 * `flag` 'a' appends to the file; 'wx' creates it and fails if it exists. `sync: false` skips
 * the fsync (still one whole write): used after an interrupt, where the exit deadline wins —
 * the bytes outlive the process, only a machine crash in the next seconds could lose them.
 */
export async function writeDurably(path: string, text: string, flag: 'a' | 'wx', opts: { sync?: boolean } = {}): Promise<void> {
  const h = await open(path, flag);
  try {
    await h.write(text);
    if (opts.sync ?? true) await h.sync();
  } finally {
    await h.close();
  }
}
