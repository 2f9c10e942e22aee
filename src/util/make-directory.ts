// `mkdir -p` that always ends.
import { lstat, mkdir, readlink, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const isMissing = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/**
 * Creates `dir` and any missing parents. Node 20's `mkdir(dir, { recursive: true })` never
 * returns when a component cannot be created for a reason its retry loop misreads (ENOENT
 * under /proc, whose parent exists but takes no new entries); this walks up to the nearest
 * existing ancestor, then creates each missing component once, in order, and fails with
 * that component's error. A file in the way fails with ENOTDIR naming the file.
 */
export async function makeDirectory(dir: string): Promise<void> {
  if (dir === '') throw Object.assign(new Error("ENOENT: no such file or directory, mkdir ''"), { code: 'ENOENT', path: '' });
  const missing: string[] = [];
  for (let cur = resolve(dir); ; cur = dirname(cur)) {
    const found = await stat(cur).catch((e: unknown) => {
      if (isMissing(e)) return null;
      throw e;
    });
    if (found) {
      if (!found.isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${cur}' (a file is in the way of ${dir})`), { code: 'ENOTDIR', path: cur });
      }
      break;
    }
    missing.push(cur);
    if (dirname(cur) === cur) break;
  }
  for (const component of missing.reverse()) {
    try {
      await mkdir(component);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // Created meanwhile by someone else (fine when it is a directory), or a symlink whose
      // target is missing (stat saw nothing, mkdir sees the link).
      const found = await stat(component).catch(() => null);
      if (found?.isDirectory()) continue;
      if ((await lstat(component)).isSymbolicLink()) {
        throw Object.assign(new Error(`ENOENT: ${component} is a symbolic link to a missing target (${await readlink(component)})`), { code: 'ENOENT', path: component });
      }
      throw e;
    }
  }
}
