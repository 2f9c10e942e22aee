// Keep-alive HTTP/1.1 connections for the streaming transport. The sockets live on the socket
// thread (socket-thread-worker.cjs), which stamps every read on arrival; this pool decides which
// request gets which connection.
//
// Why not node:http: its per-read work (HTTP parser binding, IncomingMessage, stream events)
// runs in the socket's read callback on the main thread, so with hundreds of streams read in
// one poll phase the later sockets' stamps waited for the earlier sockets' parsing, and every
// main-thread GC pause delayed them all.
//
// Ownership: a connection belongs to at most one exchange at a time (its user); the pool owns
// idle connections. A connection that saw anything unexpected is destroyed, never reused.
// Process lifetime: every request in flight holds the socket thread (hold()) from its start
// until it settled and gave its connection back; idle connections hold nothing.

import net from 'node:net';
import { holdSocketThread, socketThread, type ConnectTarget, type SocketEvents, type SocketPlacement, type SocketThread } from './socket-thread.js';

/** Receives the events of one connection while an exchange owns it. */
export type ConnectionUser = SocketEvents;

export class H1Connection {
  private owner: ConnectionUser | null = null;
  closed = false;
  /** destroy() was called; the socket's 'close' has not come back yet. Never handed out again. */
  closing = false;
  /** Requests this connection has carried (for tests and diagnostics). */
  requests = 0;
  readonly id: number;

  /** Why we closed this connection ourselves (reported to its owner instead of a bare close). */
  private closeReason: Error | undefined;

  constructor(
    private readonly thread: SocketThread,
    target: ConnectTarget,
    /** The pool's bookkeeping, after the owner (if any) heard of the close. */
    private readonly onClosed: (conn: H1Connection) => void,
  ) {
    this.id = thread.connect(target, {
      onWritten: (ns) => this.owner?.onWritten(ns),
      onRead: (bytes, ns, slackMs) => {
        if (this.owner !== null) this.owner.onRead(bytes, ns, slackMs);
        else this.destroy(); // bytes on an idle connection: the server broke framing
      },
      onClose: (ns, error) => {
        this.closed = true;
        this.detach()?.onClose(ns, error ?? this.closeReason);
        this.onClosed(this);
      },
    });
  }

  /** Give the connection to `user` (it must be free). */
  attach(user: ConnectionUser): void {
    this.owner = user;
    this.requests++;
  }

  /** Take the connection back from its user; returns the user it had. */
  detach(): ConnectionUser | null {
    const owner = this.owner;
    this.owner = null;
    return owner;
  }

  write(bytes: Uint8Array): void {
    this.thread.write(this.id, bytes);
  }

  setIdleTimeout(ms: number): void {
    this.thread.setIdleTimeout(this.id, ms);
  }

  /** Close the connection; `reason` is what its owner (if any) hears instead of a bare close. */
  destroy(reason?: Error): void {
    if (this.closed) return;
    this.closing = true;
    this.closeReason ??= reason;
    this.thread.destroy(this.id);
  }
}

export interface H1PoolOptions {
  /** Most connections open at once (busy, idle and connecting). */
  maxSockets: number;
  /**
   * An idle connection is closed after this long. Keep it below the server's keep-alive
   * timeout (uvicorn: 5 s), so a request is never written into a socket the server is closing.
   */
  idleTimeoutMs: number;
  /** Where the sockets live and reads are stamped (see socket-thread.ts). */
  placement: SocketPlacement;
  /** PEM certificates to trust instead of Node's default CAs (https endpoints). */
  ca?: string;
}

/** How long a lingering connection may keep a waiting request waiting (vs 2 s with no waiter). */
const LINGER_WITH_WAITERS_MS = 20;

/** A request waiting for a connection (methods, so a request object can be its own waiter). */
export interface ConnectionWaiter {
  connectionReady(conn: H1Connection): void;
  /** The pool was closed before a connection came free. */
  connectionFailed(error: Error): void;
}

/** The owner of a lingering connection (see linger()). */
export interface Lingerer {
  /** Release the connection (not reusable): a waiting request needs its slot. */
  giveUpLingering(): void;
}

export class H1Pool {
  private readonly idle: H1Connection[] = [];
  /** Every open connection, busy or idle, so destroy() reaches them all. */
  private readonly all = new Set<H1Connection>();
  private readonly waiters: ConnectionWaiter[] = [];
  /**
   * Connections whose request has settled ([DONE] seen) while the server has not ended the
   * response yet: kept for reuse, but given up at once when an acquirer is waiting for a slot.
   */
  private readonly lingering = new Map<H1Connection, { owner: Lingerer; since: number }>();
  /** Lingering connections given up for a waiter whose 'close' has not come back yet. */
  private readonly evicted = new Set<H1Connection>();
  private evictionTimer: NodeJS.Timeout | null = null;
  private open = 0;
  private destroyed = false;
  private readonly host: string;
  private readonly port: number;
  private readonly secure: boolean;

  constructor(
    url: URL,
    private readonly opts: H1PoolOptions,
  ) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`unsupported protocol ${url.protocol} (http: or https: only)`);
    }
    this.secure = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port !== '' ? Number(url.port) : this.secure ? 443 : 80;
  }

  /** Host header value for requests on this pool. */
  get authority(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    const defaultPort = this.secure ? 443 : 80;
    return this.port === defaultPort ? host : `${host}:${this.port}`;
  }

  /** scheme://authority, for messages. */
  get origin(): string {
    return `${this.secure ? 'https' : 'http'}://${this.authority}`;
  }

  /** Connections open now (busy, idle or connecting). */
  get size(): number {
    return this.open;
  }

  /** Keep the process alive (the socket thread ref'd) until the returned function is called. */
  hold(): () => void {
    return holdSocketThread(this.opts.placement);
  }

  /** `conn` is lingering: its owner gives it up (not reusable) if a waiter needs its slot. */
  linger(conn: H1Connection, owner: Lingerer): void {
    this.lingering.set(conn, { owner, since: performance.now() });
    this.evictLingering();
  }

  /**
   * Hand a connection to `waiter` as soon as one is free: an idle one (most recently used
   * first), a new one while under maxSockets, else the next one released. Returns true when
   * the waiter was served at once; otherwise it waits (see withdraw()).
   */
  acquire(waiter: ConnectionWaiter): boolean {
    if (this.destroyed) throw new Error('the backend was closed');
    const conn = this.takeIdle();
    if (conn !== null) {
      waiter.connectionReady(conn);
      return true;
    }
    if (this.open < this.opts.maxSockets) {
      waiter.connectionReady(this.connect());
      return true;
    }
    this.waiters.push(waiter);
    this.evictLingering();
    return false;
  }

  /** `waiter` no longer wants a connection (a no-op once it was served). */
  withdraw(waiter: ConnectionWaiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** The owner is done with `conn`; it is reused only when `reusable` and still open. */
  release(conn: H1Connection, reusable: boolean): void {
    conn.detach();
    this.lingering.delete(conn);
    if (!reusable || conn.closed || this.destroyed) {
      conn.destroy(); // 'close' follows and frees the slot
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.connectionReady(conn);
      return;
    }
    conn.setIdleTimeout(this.opts.idleTimeoutMs);
    this.idle.push(conn);
  }

  /** Close every connection: requests in flight and waiting requests fail, naming the reason. */
  destroy(): void {
    this.destroyed = true;
    const closed = new Error('the backend was closed');
    for (const w of this.waiters.splice(0)) w.connectionFailed(closed);
    this.idle.length = 0;
    this.lingering.clear();
    if (this.evictionTimer) clearTimeout(this.evictionTimer);
    for (const conn of this.all) conn.destroy(closed);
  }

  /**
   * Waiters that no slot is coming for take the slots of lingering connections: each lingering
   * connection keeps LINGER_WITH_WAITERS_MS (from when it started lingering) to end its
   * response and be reused; past that it is given up, at most one per waiter not already
   * served by an eviction whose 'close' is on the way. Giving up a connection its exchange
   * already released is a no-op.
   */
  private evictLingering(): void {
    if (this.evictionTimer !== null || this.destroyed) return;
    const now = performance.now();
    let next = Infinity;
    for (const [conn, { owner, since }] of this.lingering) {
      if (this.waiters.length <= this.evicted.size) break;
      const due = since + LINGER_WITH_WAITERS_MS;
      if (due > now) {
        next = Math.min(next, due);
        continue;
      }
      this.lingering.delete(conn);
      this.evicted.add(conn);
      owner.giveUpLingering();
    }
    if (next === Infinity || this.waiters.length <= this.evicted.size) return;
    this.evictionTimer = setTimeout(() => {
      this.evictionTimer = null;
      this.evictLingering();
    }, next - now);
    this.evictionTimer.unref();
  }

  private takeIdle(): H1Connection | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.closed || conn.closing) continue;
      conn.setIdleTimeout(0);
      return conn;
    }
    return null;
  }

  private connect(): H1Connection {
    this.open++;
    const servername = this.secure && net.isIP(this.host) === 0 ? this.host : undefined;
    const target = { host: this.host, port: this.port, secure: this.secure, servername, ca: this.opts.ca };
    const conn = new H1Connection(socketThread(this.opts.placement), target, (c) => {
      this.forgetIdle(c);
      this.closed(c);
    });
    this.all.add(conn);
    return conn;
  }

  /** Bookkeeping for a closed connection (called once, busy or idle). */
  private closed(conn: H1Connection): void {
    if (!this.all.delete(conn)) return;
    this.lingering.delete(conn);
    this.evicted.delete(conn);
    this.open--;
    this.serveWaiter();
  }

  private forgetIdle(conn: H1Connection): void {
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** A slot was freed: open a connection for the longest-waiting acquirer. */
  private serveWaiter(): void {
    if (this.destroyed || this.waiters.length === 0 || this.open >= this.opts.maxSockets) return;
    const waiter = this.waiters.shift()!;
    waiter.connectionReady(this.connect());
  }
}
