// @ts-check
// The socket host: owns the streaming transport's TCP/TLS sockets and stamps every read the
// moment it arrives. It runs either on its own worker thread (socket-thread-worker.cjs) or on
// the main thread; in both places it speaks the same messages, listed below.
//
// On its own thread its heap holds only reads not yet handed over (at most one loop turn's
// worth), so its garbage collections are short and nothing the main thread does (parsing, a
// progress bar, writing results, a long V8 pause) delays an arrival stamp; the price is a
// cross-thread wake-up per batch of reads.
//
// Plain CommonJS so the same file runs from src/ (tests) and dist/ (tsc copies it).
//
// Protocol (arrays, first element the operation):
//   in:  ['connect', id, host, port, secure, servername, ca]  ['write', id, Uint8Array]
//        ['idle', id, ms]  (0 = no idle timeout)           ['destroy', id]
//   out: ['started', tid]  the host's Linux thread id (null elsewhere), for diagnostics
//        ['written', id, ns]  request start: bytes handed to a connected socket at ns, or, on a
//                             connection still connecting, the moment it connected (TCP; TLS:
//                             handshake done), when the buffered request goes out
//        ['reads', ids Int32Array, stamps BigInt64Array, ends Int32Array, bytes Uint8Array, slacks Float64Array]
//          read i of the batch is bytes[ends[i-1] .. ends[i]) of connection ids[i], stamped stamps[i]
//          with stamp slack slacks[i] ms (see below)
//        ['reads-local', ids number[], stamps bigint[], reads Buffer[], slacks number[]]  the same, unpacked (same thread)
//        ['close', id, ns, errorCode | null, errorMessage | null]
// Invariant: for one connection, every read is emitted before its 'close'.
//
// Stamp slack: how late a read's stamp can be because this thread was busy (running JS, in
// GC, or not scheduled while not waiting for I/O) when the bytes may have arrived. Bytes that
// arrive while the loop waits in epoll wake it at once; bytes that arrive after an epoll call
// returned wait for the next poll phase, however long the work in between takes (the rest of
// that poll phase included). So a read's lateness is bounded by the busy time (elapsed minus
// the loop's own I/O-wait time, from its idle-time counter) since a moment no later than the
// return of the epoll call before the one that delivered it, plus the reads handled before it
// in its batch. That moment (a batch's mark) is:
//   - on the socket thread (pack): the first host callback of the previous batch's loop turn
//     (after the flush before it); nothing but this host runs there, so that is when the epoll
//     call of that turn returned, give or take the loop's own bookkeeping;
//   - on the main thread: the flush before the previous batch (a check phase, before the poll
//     phase of the previous batch); other code may run in a poll phase before our callbacks.
// An upper bound, looser on the main thread; it cannot see a wake-up delayed by the kernel or
// the hypervisor. Consumers cap it further (bytes cannot precede the request).
'use strict';

const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const net = require('node:net');
const tls = require('node:tls');

/** Linux thread id of the calling thread (its scheduler statistics live under /proc/self/task/TID). */
function threadId() {
  try {
    return Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
}

/**
 * @param {(msg: any[], transfer?: ArrayBuffer[]) => void} emit
 * @param {{ pack: boolean }} options pack: emit reads as one transferable 'reads' message
 *   (across threads); otherwise as 'reads-local' with the arrays themselves (same thread, no copy)
 * @returns {(msg: any[]) => void} the handler of incoming messages
 */
function createSocketHost(emit, options) {
  emit(['started', threadId()]);

  /** @type {Map<number, net.Socket>} */
  const sockets = new Map();
  /** @type {Map<string, tls.SecureContext>} one per CA bundle, not one parse per connection */
  const caContexts = new Map();
  /** @param {string} ca */
  function secureContextFor(ca) {
    let context = caContexts.get(ca);
    if (context === undefined) {
      context = tls.createSecureContext({ ca });
      caContexts.set(ca, context);
    }
    return context;
  }
  /**
   * Plain TCP sockets read into this one buffer (net's `onread` option) and the bytes are
   * copied out at once: no stream machinery and no new ArrayBuffer per read (small copies
   * come from Buffer's pool), so a burst of reads is stamped sooner and leaves less garbage.
   * TLS sockets use 'data' events (`onread` is for plain sockets).
   */
  const readBuffer = Buffer.allocUnsafe(64 * 1024);
  /** Connections that finished connecting (TCP connect, or the TLS handshake). */
  const connected = new Set();
  /** Connections holding a request written before they connected: its start is stamped on connect. */
  const startOnConnect = new Set();

  // Reads stamped since the last flush (parallel arrays: no object per read).
  /** @type {number[]} */
  let readIds = [];
  /** @type {bigint[]} */
  let readStamps = [];
  /** @type {Buffer[]} */
  let readBytes = [];
  let readTotal = 0;
  /** @type {number[]} stamp slack of each read, ms */
  let readSlacks = [];
  // Samples of (performance.now(), loop idle time), ms. `turnMark`: taken at the first host
  // callback after a flush (socket thread) or at a flush (main thread), null until then;
  // `batchMark`: the turn mark current when the previous batch started (see "Stamp slack").
  const sample = () => ({ ms: performance.now(), idleMs: performance.eventLoopUtilization().idle });
  /** @type {{ ms: number, idleMs: number } | null} */
  let turnMark = sample();
  let batchMark = turnMark;
  /** Slack of the current batch's first read, and when it was taken. */
  let batchSlackMs = 0;
  let batchStartMs = 0;
  let flushScheduled = false;
  /** A host callback starts: on the socket thread, the first one after a flush marks the turn. */
  function enter() {
    if (turnMark === null) turnMark = sample();
  }

  /** Emit the pending reads as one message (runs after the poll phase that read them). */
  function flush() {
    flushScheduled = false;
    const n = readBytes.length;
    if (n === 0) return;
    turnMark = options.pack ? null : sample();
    if (!options.pack) {
      const batch = ['reads-local', readIds, readStamps, readBytes, readSlacks];
      readIds = [];
      readStamps = [];
      readBytes = [];
      readSlacks = [];
      readTotal = 0;
      emit(batch);
      return;
    }
    const ids = new Int32Array(n);
    const stamps = new BigInt64Array(n);
    const ends = new Int32Array(n);
    const slacks = new Float64Array(n);
    const bytes = new Uint8Array(readTotal);
    let offset = 0;
    for (let i = 0; i < n; i++) {
      bytes.set(readBytes[i], offset);
      offset += readBytes[i].length;
      ends[i] = offset;
      ids[i] = readIds[i];
      stamps[i] = readStamps[i];
      slacks[i] = readSlacks[i];
    }
    readIds = [];
    readStamps = [];
    readBytes = [];
    readSlacks = [];
    readTotal = 0;
    emit(['reads', ids, stamps, ends, bytes, slacks], [ids.buffer, stamps.buffer, ends.buffer, bytes.buffer, slacks.buffer]);
  }

  /**
   * @param {number} id
   * @param {string} host
   * @param {number} tcpPort
   * @param {boolean} secure
   * @param {string | undefined} servername
   * @param {string | undefined} ca  PEM certificates to trust instead of Node's default CAs
   */
  function connect(id, host, tcpPort, secure, servername, ca) {
    /** @param {Buffer} chunk @param {bigint} ns */
    const onData = (chunk, ns) => {
      const nowMs = performance.now();
      if (readIds.length === 0) {
        // First read since the last flush: busy time since the batch mark (see "Stamp slack").
        enter();
        const idleMs = performance.eventLoopUtilization().idle;
        batchSlackMs = Math.max(0, nowMs - batchMark.ms - (idleMs - batchMark.idleMs));
        batchStartMs = nowMs;
        batchMark = /** @type {{ ms: number, idleMs: number }} */ (turnMark);
      }
      readIds.push(id);
      readStamps.push(ns);
      readBytes.push(chunk);
      readSlacks.push(batchSlackMs + (nowMs - batchStartMs));
      readTotal += chunk.length;
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    };
    /** @type {net.Socket} */
    let socket;
    try {
      socket = secure
        ? tls.connect({ host, port: tcpPort, ...(servername ? { servername } : {}), ...(ca ? { secureContext: secureContextFor(ca) } : {}) })
        : net.connect({
            host,
            port: tcpPort,
            onread: {
              buffer: readBuffer,
              callback: (/** @type {number} */ n) => {
                const ns = process.hrtime.bigint(); // arrival stamp: nothing may run before it
                const chunk = Buffer.allocUnsafe(n);
                readBuffer.copy(chunk, 0, 0, n);
                onData(chunk, ns);
                return true; // keep reading (false would pause the socket)
              },
            },
          });
    } catch (err) {
      // e.g. a CA that is not a valid certificate: this connection fails, the host lives on.
      const e = /** @type {NodeJS.ErrnoException} */ (err);
      const ns = process.hrtime.bigint();
      // After the caller's synchronous hand-over of this connection (main placement).
      queueMicrotask(() => emit(['close', id, ns, e.code ?? null, e.message ?? String(err)]));
      return;
    }
    socket.setNoDelay(true); // small SSE writes and our requests must not wait for Nagle
    sockets.set(id, socket);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      connected.add(id);
      if (startOnConnect.delete(id)) emit(['written', id, process.hrtime.bigint()]);
    });
    /** @type {NodeJS.ErrnoException | null} */
    let error = null;
    if (secure) {
      socket.on('data', (/** @type {Buffer} */ chunk) => {
        onData(chunk, process.hrtime.bigint()); // arrival stamp: taken before anything else runs
      });
    }
    socket.on('error', (err) => {
      error = err;
    });
    socket.on('timeout', () => socket.destroy()); // armed only while the connection is idle
    socket.on('close', () => {
      const ns = process.hrtime.bigint();
      sockets.delete(id);
      connected.delete(id);
      startOnConnect.delete(id);
      flush(); // this connection's reads go first
      emit(['close', id, ns, error?.code ?? null, error ? error.message : null]);
    });
  }

  return (/** @type {any[]} */ msg) => {
    enter();
    switch (msg[0]) {
      case 'connect':
        connect(msg[1], msg[2], msg[3], msg[4], msg[5], msg[6]);
        break;
      case 'write': {
        const socket = sockets.get(msg[1]);
        // Closed or being destroyed meanwhile: its 'close' is on the way; the request never started.
        if (socket === undefined || socket.destroyed) break;
        if (!connected.has(msg[1])) {
          // Buffered by the socket until it connects; the request starts then (see 'written').
          socket.write(msg[2]);
          startOnConnect.add(msg[1]);
          break;
        }
        const ns = process.hrtime.bigint(); // request start: the moment it is handed to the socket
        socket.write(msg[2]);
        emit(['written', msg[1], ns]);
        break;
      }
      case 'idle': {
        const socket = sockets.get(msg[1]);
        if (socket === undefined) break;
        socket.setTimeout(msg[2]);
        // An idle keep-alive connection must not keep the process alive (matters on the main thread).
        if (msg[2] > 0) socket.unref();
        else socket.ref();
        break;
      }
      case 'destroy':
        sockets.get(msg[1])?.destroy();
        break;
    }
  };
}

module.exports = { createSocketHost };
