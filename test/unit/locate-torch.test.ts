// The libtorch locator's search order and failure report, and the Node-API header finder.
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { locateTorch, torchCandidates, torchLinkLibraries, torchNotFoundMessage } from '../../scripts/locate-torch.mjs';
import { findNodeHeaders } from '../../scripts/node-headers.mjs';

const SYSTEM_TORCH = '/usr/lib/x86_64-linux-gnu/cmake/Torch';
const tmp = mkdtempSync(join(tmpdir(), 'aeb-locate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('torch locator', () => {
  it('an explicit LIBTORCH or Torch_DIR is the only candidate (never silently replaced)', () => {
    const c = torchCandidates({ LIBTORCH: '/opt/libtorch' });
    expect(c).toEqual([{ source: 'env LIBTORCH', torchDir: '/opt/libtorch/share/cmake/Torch' }]);
    const d = torchCandidates({ Torch_DIR: '/x/cmake/Torch' });
    expect(d).toEqual([{ source: 'env Torch_DIR', torchDir: '/x/cmake/Torch' }]);
  });

  it('without env vars, tries python torch then the system libtorch dirs, in that order', () => {
    const c = torchCandidates({}, { python: join(tmp, 'no-such-python') });
    expect(c[0].source).toMatch(/^python torch/);
    expect(c[0].torchDir).toBeNull();
    expect(c[0].reason).toMatch(/not runnable/);
    expect(c.slice(1).map((x: { torchDir: string }) => x.torchDir)).toContain('/usr/lib/x86_64-linux-gnu/cmake/Torch');
  });

  it('a Torch_DIR without TorchConfig.cmake is reported, not used', () => {
    const r = locateTorch({ env: { Torch_DIR: tmp } });
    expect(r.found).toBe(false);
    expect(r.tried).toEqual([`env Torch_DIR: no TorchConfig.cmake in ${tmp}`]);
    const msg = torchNotFoundMessage(r.tried);
    expect(msg).toContain('apt-get install -y libtorch-dev libopenblas0-pthread');
    expect(msg).toContain('LIBTORCH=');
    expect(msg).toContain('AEB_SKIP_NATIVE=1');
  });

  it('a broken TorchConfig.cmake fails the cmake probe with its error', () => {
    const dir = join(tmp, 'broken', 'Torch');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'TorchConfig.cmake'), 'message(FATAL_ERROR "deliberately broken torch")\n');
    const r = locateTorch({ env: { Torch_DIR: dir } });
    expect(r.found).toBe(false);
    expect(r.tried[0]).toMatch(/find_package\(Torch\) failed/);
  });

  it.skipIf(!existsSync(`${SYSTEM_TORCH}/TorchConfig.cmake`))(
    "reads the ABI flag, version and lib dir from the system torch's CMake config",
    () => {
      const r = locateTorch({ env: { Torch_DIR: SYSTEM_TORCH } });
      expect(r.found).toBe(true);
      expect(r.cxxFlags.some((f: string) => /^-D_GLIBCXX_USE_CXX11_ABI=[01]$/.test(f))).toBe(true);
      expect(r.abi === 0 || r.abi === 1).toBe(true);
      expect(r.version).toMatch(/^\d+\.\d+/);
      expect(r.includeDirs.length).toBeGreaterThan(0);
      expect(torchLinkLibraries(r.libDir)).toEqual(expect.arrayContaining(['torch', 'c10']));
    },
  );
});

describe('Node-API header finder', () => {
  it('AEB_NODE_HEADERS wins when it holds node_api.h (as a dir or a node prefix)', () => {
    const inc = join(tmp, 'prefix', 'include', 'node');
    mkdirSync(inc, { recursive: true });
    writeFileSync(join(inc, 'node_api.h'), '');
    expect(findNodeHeaders({ AEB_NODE_HEADERS: inc })).toMatchObject({ includeDir: inc, source: 'env AEB_NODE_HEADERS', nodeRoot: null });
    expect(findNodeHeaders({ AEB_NODE_HEADERS: join(tmp, 'prefix') }).includeDir).toBe(inc);
    writeFileSync(join(inc, 'node.h'), '');
    expect(findNodeHeaders({ AEB_NODE_HEADERS: inc }).nodeRoot).toBe(join(tmp, 'prefix'));
  });

  it('an unusable AEB_NODE_HEADERS is listed as tried and the search goes on', () => {
    const r = findNodeHeaders({ AEB_NODE_HEADERS: join(tmp, 'empty') });
    expect(r.tried[0]).toBe(`env AEB_NODE_HEADERS: no node_api.h in ${join(tmp, 'empty')}`);
    expect(r.includeDir).not.toBeNull(); // this machine has /usr/include/node or node-api-headers
  });
});
