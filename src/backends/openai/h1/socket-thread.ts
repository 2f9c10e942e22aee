// The main thread's handle on the socket host (socket-host.cjs), which owns the streaming
// sockets and stamps every read. Placement:
//   'worker': the host runs on its own worker thread (one per process, started when a backend
//             opens, or on first use):
//             main-thread work and GC pauses cannot delay a stamp, at the cost of a
//             cross-thread wake-up per batch of reads.
//   'main':   the host runs on the main thread: no hand-off, but anything the main thread does
//             between two poll phases delays the stamps of reads that arrive meanwhile.
// Either way the handle routes stamped reads and closes to the connection they belong to.
//
// Process lifetime: requests in flight hold their placement (holdSocketThread); the count
// lives here, per placement, not in a thread object, so a socket thread that replaced a dead
// one starts ref'd when requests are still waiting.

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export type SocketPlacement = 'worker' | 'main';

/** What the owner of one connection id hears from the socket host. */
export interface SocketEvents {
  /** The request started at `ns` (see the host's 'written' message). */
  onWritten(ns: bigint): void;
  /**
   * `ns`: process.hrtime.bigint() taken first thing when the read reached JS; `slackMs`: how
   * late that stamp can be because the socket thread was busy (an upper bound; socket-host.cjs).
   */
  onRead(bytes: Buffer, ns: bigint, slackMs: number): void;
  /** The socket closed; `error` when it failed (reset, refused, TLS…) or why we closed it. */
  onClose(ns: bigint, error: NodeJS.ErrnoException | undefined): void;
}

type HostMessage =
  | ['started', number | null]
  | ['written', number, bigint]
  | ['reads', Int32Array, BigInt64Array, Int32Array, Uint8Array, Float64Array]
  | ['reads-local', number[], bigint[], Buffer[], number[]]
  | ['close', number, bigint, string | null, string | null];

type HostInput =
  | ['connect', number, string, number, boolean, string | undefined, string | undefined]
  | ['write', number, Uint8Array]
  | ['idle', number, number]
  | ['destroy', number];

/** Where one connection goes. */
export interface ConnectTarget {
  host: string;
  port: number;
  secure: boolean;
  servername: string | undefined;
  /** PEM certificates to trust instead of Node's default CAs (TLS only). */
  ca: string | undefined;
}

const requireCjs = createRequire(import.meta.url);

export class SocketThread {
  private readonly send: (msg: HostInput, transfer?: ArrayBuffer[]) => void;
  private readonly worker: Worker | null = null;
  private readonly routes = new Map<number, SocketEvents>();
  private nextId = 1;
  private dead: Error | null = null;
  /** Linux thread id of the thread that stamps reads (null: not Linux, or not started yet). */
  tid: number | null = null;
  /** Declared before `started`, whose executor replaces it (field initializers run in order). */
  private markStarted: () => void = () => undefined;
  /** Settles when the host runs (its 'started' message), or when it died first. */
  readonly started = new Promise<void>((resolve) => {
    this.markStarted = resolve;
  });

  constructor(readonly placement: SocketPlacement) {
    if (placement === 'worker') {
      const worker = new Worker(new URL('./socket-thread-worker.cjs', import.meta.url));
      worker.on('message', (msg: HostMessage) => this.onMessage(msg));
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => this.fail(new Error(`the socket thread exited (code ${code})`)));
      // After the listeners: adding a 'message' listener refs the worker again. Ref'd only
      // while requests are in flight (holdSocketThread).
      worker.unref();
      this.worker = worker;
      this.send = (msg, transfer) => worker.postMessage(msg, transfer ?? []);
    } else {
      const { createSocketHost } = requireCjs('./socket-host.cjs') as {
        createSocketHost: (emit: (msg: HostMessage) => void, options: { pack: boolean }) => (msg: HostInput) => void;
      };
      this.send = createSocketHost((msg) => this.onMessage(msg), { pack: false });
    }
  }

  /** Open a connection; its events go to `events` until its close. */
  connect(target: ConnectTarget, events: SocketEvents): number {
    const id = this.nextId++;
    this.routes.set(id, events);
    if (this.dead !== null) {
      const error = this.dead;
      queueMicrotask(() => this.close(id, process.hrtime.bigint(), error));
      return id;
    }
    this.send(['connect', id, target.host, target.port, target.secure, target.servername, target.ca]);
    return id;
  }

  write(id: number, bytes: Uint8Array): void {
    if (this.worker === null) {
      this.send(['write', id, bytes]);
      return;
    }
    const copy = new Uint8Array(bytes); // own buffer: a pooled Buffer's whole slab would be cloned
    this.send(['write', id, copy], [copy.buffer]);
  }

  /** Close the connection when idle this long (0 = never); an idle connection keeps no process alive. */
  setIdleTimeout(id: number, ms: number): void {
    this.send(['idle', id, ms]);
  }

  destroy(id: number): void {
    this.send(['destroy', id]);
  }

  /** Whether the process must stay alive for this thread (main placement: the sockets decide). */
  setRef(ref: boolean): void {
    if (this.worker === null) return;
    if (ref) this.worker.ref();
    else this.worker.unref();
  }

  private onMessage(msg: HostMessage): void {
    switch (msg[0]) {
      case 'reads-local': {
        const [, ids, stamps, reads, slacks] = msg;
        for (let i = 0; i < ids.length; i++) this.routes.get(ids[i]!)?.onRead(reads[i]!, stamps[i]!, slacks[i]!);
        break;
      }
      case 'reads': {
        const [, ids, stamps, ends, bytes, slacks] = msg;
        const all = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        let start = 0;
        for (let i = 0; i < ids.length; i++) {
          const end = ends[i]!;
          this.routes.get(ids[i]!)?.onRead(all.subarray(start, end), stamps[i]!, slacks[i]!);
          start = end;
        }
        break;
      }
      case 'started':
        this.tid = msg[1];
        this.markStarted();
        break;
      case 'written':
        this.routes.get(msg[1])?.onWritten(msg[2]);
        break;
      case 'close': {
        const [, id, ns, code, message] = msg;
        let error: NodeJS.ErrnoException | undefined;
        if (message !== null) {
          error = new Error(message);
          if (code !== null) error.code = code;
        }
        this.close(id, ns, error);
        break;
      }
    }
  }

  private close(id: number, ns: bigint, error: NodeJS.ErrnoException | undefined): void {
    const events = this.routes.get(id);
    this.routes.delete(id);
    events?.onClose(ns, error);
  }

  /** The worker died (never expected): every connection ends with the reason; a new thread serves new ones. */
  private fail(err: Error): void {
    if (this.dead !== null) return;
    this.dead = err;
    this.markStarted(); // nobody waits for a start that will not come; requests hear `err`
    if (shared.get(this.placement) === this) shared.delete(this.placement);
    const ns = process.hrtime.bigint();
    for (const id of [...this.routes.keys()]) this.close(id, ns, err);
  }
}

const shared = new Map<SocketPlacement, SocketThread>();
/** Requests in flight per placement (see holdSocketThread). */
const holds = new Map<SocketPlacement, number>();

/** The process's socket host for `placement`, started on first use. */
export function socketThread(placement: SocketPlacement = 'worker'): SocketThread {
  let thread = shared.get(placement);
  if (thread === undefined) {
    thread = new SocketThread(placement);
    shared.set(placement, thread);
    if ((holds.get(placement) ?? 0) > 0) thread.setRef(true); // a replacement, with requests waiting
  }
  return thread;
}

/**
 * Start `placement`'s socket host now and wait until it runs, so that the first requests'
 * queue time does not include a worker's start-up (~75 ms).
 */
export async function startSocketThread(placement: SocketPlacement): Promise<void> {
  const release = holdSocketThread(placement); // an unref'd worker alone would let the process exit
  try {
    await socketThread(placement).started;
  } finally {
    release();
  }
}

/** Keep the process alive for `placement`'s socket thread until the returned function runs (once). */
export function holdSocketThread(placement: SocketPlacement): () => void {
  const n = (holds.get(placement) ?? 0) + 1;
  holds.set(placement, n);
  if (n === 1) socketThread(placement).setRef(true);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    const left = holds.get(placement)! - 1;
    holds.set(placement, left);
    if (left === 0) shared.get(placement)?.setRef(false);
  };
}
