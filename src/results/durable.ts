// One write() of a complete text followed by fsync: a crash leaves all of it or none of the
// new bytes visible after a reboot. Shared by master-row appends and migrations.
import { open } from 'node:fs/promises';

/** `flag` 'a' appends to the file; 'wx' creates it and fails if it exists. */
export async function writeDurably(path: string, text: string, flag: 'a' | 'wx'): Promise<void> {
  const h = await open(path, flag);
  try {
    await h.write(text);
    await h.sync();
  } finally {
    await h.close();
  }
}
