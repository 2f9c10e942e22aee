// Finds Node-API headers on disk; the native build never downloads them (offline machines).
// Order: env AEB_NODE_HEADERS, <node prefix>/include/node (process.execPath-relative: a carried
// node binary), /usr/include/node (distro nodejs), the node-api-headers npm package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);

/** Accepts a dir holding node_api.h, or a prefix holding include/node/node_api.h. */
function asIncludeDir(dir) {
  if (existsSync(join(dir, 'node_api.h'))) return dir;
  if (existsSync(join(dir, 'include', 'node', 'node_api.h'))) return join(dir, 'include', 'node');
  return null;
}

/**
 * Returns { includeDir, nodeRoot, source, tried }: includeDir holds node_api.h; nodeRoot (or
 * null) is a prefix with include/node/node.h, which node-gyp (--nodedir) and cmake-js
 * (runtimeDirectory) accept as a local "distribution" so that they download nothing.
 */
export function findNodeHeaders(env = process.env) {
  const candidates = [];
  if (env.AEB_NODE_HEADERS) candidates.push(['env AEB_NODE_HEADERS', resolve(env.AEB_NODE_HEADERS)]);
  candidates.push(['node prefix (process.execPath)', join(dirname(process.execPath), '..', 'include', 'node')]);
  candidates.push(['/usr/include/node', '/usr/include/node']);
  try {
    candidates.push(['npm node-api-headers', require('node-api-headers').include_dir]);
  } catch {
    // not installed: listed below as tried
  }
  const tried = [];
  for (const [source, dir] of candidates) {
    const includeDir = asIncludeDir(dir);
    if (!includeDir) {
      tried.push(`${source}: no node_api.h in ${dir}`);
      continue;
    }
    const root = resolve(includeDir, '..', '..');
    const nodeRoot = existsSync(join(root, 'include', 'node', 'node.h')) ? root : null;
    return { includeDir, nodeRoot, source, tried };
  }
  return { includeDir: null, nodeRoot: null, source: null, tried };
}
