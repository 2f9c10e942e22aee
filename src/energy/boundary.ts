// Which work the sensors of this machine can speak for. They read this machine only: a model
// served from another machine (an endpoint whose host is not loopback) draws energy that no
// sensor here sees. Host names other than localhost are not resolved: nothing shows they are
// this machine, so they count as another one.
import { BlockList, isIP } from 'node:net';
import type { BackendDescription } from '../backends/types.js';

// Addresses that reach this machine: loopback, and the unspecified address (a connection to
// 0.0.0.0 or :: goes to the local host on Linux).
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('0.0.0.0', 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addAddress('::', 'ipv6');

/**
 * localhost and *.localhost (RFC 6761), 127.0.0.0/8, ::1, 0.0.0.0 and :: (IPv4-mapped forms
 * included); URL brackets and a trailing dot allowed.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Host of the server doing the work when it is another machine; null when the work runs here
 * (no endpoint in the description: an in-process backend; or a loopback endpoint). An endpoint
 * that is not a URL is returned as it is: it is not shown to be this machine.
 */
export function remoteServerHost(backend: BackendDescription | null | undefined): string | null {
  const endpoint = backend?.details?.['endpoint'];
  if (typeof endpoint !== 'string') return null;
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return endpoint;
  }
  return isLoopbackHost(host) ? null : host;
}
