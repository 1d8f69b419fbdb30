/** What the heartbeat needs of a socket: `ws`'s WebSocket has all of it. */
export interface WatchedSocket {
  ping(): void;
  terminate(): void;
  close(code: number, reason: string): void;
  on(event: 'pong', listener: () => void): unknown;
}

/**
 * How long a socket this server closes may take to complete the closing handshake before its connection is
 * dropped; `ws` would wait 30 s, and a client that stopped reading never completes it.
 */
const CLOSE_GRACE_MS = 1000;

/**
 * How this server closes a socket, whatever the reason: the close frame, then the connection dropped if the peer
 * has not answered within CLOSE_GRACE_MS, so its subscriptions (and presence) end then at the latest.
 */
export function closeSocket(socket: Pick<WatchedSocket, 'close' | 'terminate'>, code: number, reason: string): void {
  socket.close(code, reason);
  setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
}

/** graphql-ws's close code for a socket that did not send connection_init in time. */
const INIT_TIMEOUT_CODE = 4408;
/** graphql-ws's close code for a refused connection: the client reconnects with a fresh token and resumes. */
const EXPIRED_CODE = 4403;

/**
 * Watches every socket of the server with one timer, not timers per socket:
 * - liveness: a socket that has not answered the previous ping when its turn comes again is terminated. Sockets
 *   are spread over one slot per tick, so each tick pings a slice of them rather than every socket at once. Ticks
 *   are short (100 ms) so that slices are small: at ten thousand sockets and a 30 s interval, a slice per second
 *   (333 pings and their pongs) held the event loop for tens of milliseconds every second, which showed in
 *   message latency; a slice per 100 ms is a tenth of that. A dead peer goes between `intervalMs` and twice that.
 * - connection_init: a socket that has not sent it within `initTimeoutMs` is closed with 4408, as graphql-ws
 *   would (to the next tick).
 * - token expiry: a socket lives no longer than the token it connected with; at its expiry it is closed with 4403
 *   (to the next tick). Sockets are kept by the second they expire in, and the tick looks at them only once the
 *   earliest such second has come, so it costs nothing while no token is due.
 */
export class Heartbeat<S extends WatchedSocket> {
  private readonly slots: Set<S>[];
  /**
   * Each socket's slot, so that forgetting one costs one lookup: trying every slot (a few hundred) per close held
   * the event loop for 73 ms when ten thousand sockets closed together.
   */
  private readonly slotOf = new WeakMap<S, Set<S>>();
  private readonly awaitingPong = new Set<S>();
  /** Sockets that have not sent connection_init yet, with the time they must have by. */
  private readonly awaitingInit = new Map<S, number>();
  /** Sockets by the second (since the epoch) their token expires in, and each socket's second. */
  private readonly expiring = new Map<number, Set<S>>();
  private readonly expiryOf = new WeakMap<S, number>();
  private nextExpiry = Infinity;
  private next = 0;
  private cursor = 0;
  private timer?: NodeJS.Timeout;
  /** One listener shared by every socket (an emitter calls it with itself as `this`), not a closure each. */
  private readonly onPong: () => void;

  constructor(
    private readonly intervalMs: number,
    private readonly initTimeoutMs: number,
    private readonly tickMs = 100,
  ) {
    this.slots = Array.from({ length: Math.max(1, Math.round(intervalMs / tickMs)) }, () => new Set<S>());
    const awaitingPong = this.awaitingPong;
    this.onPong = function (this: unknown) {
      awaitingPong.delete(this as S);
    };
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.intervalMs / this.slots.length);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  watch(socket: S, now = Date.now()): void {
    const slot = this.slots[this.next++ % this.slots.length];
    slot.add(socket);
    this.slotOf.set(socket, slot);
    this.awaitingInit.set(socket, now + this.initTimeoutMs);
    socket.on('pong', this.onPong);
  }

  /** The socket sent connection_init (whether or not it was accepted). */
  initialised(socket: S): void {
    this.awaitingInit.delete(socket);
  }

  /** The socket's token expires at `atMs`: close it then. */
  expireAt(socket: S, atMs: number): void {
    const second = Math.ceil(atMs / 1000);
    let sockets = this.expiring.get(second);
    if (!sockets) this.expiring.set(second, (sockets = new Set<S>()));
    sockets.add(socket);
    this.expiryOf.set(socket, second);
    this.nextExpiry = Math.min(this.nextExpiry, second);
  }

  forget(socket: S): void {
    const second = this.expiryOf.get(socket);
    if (second !== undefined) {
      const sockets = this.expiring.get(second);
      sockets?.delete(socket);
      if (sockets?.size === 0) this.expiring.delete(second);
      this.expiryOf.delete(socket);
    }
    this.slotOf.get(socket)?.delete(socket);
    this.slotOf.delete(socket);
    this.awaitingPong.delete(socket);
    this.awaitingInit.delete(socket);
  }

  /** @internal exposed for tests: one tick of the timer. */
  tick(now = Date.now()): void {
    if (now >= this.nextExpiry * 1000) this.closeExpired(now);
    for (const [socket, deadline] of this.awaitingInit) {
      if (deadline > now) continue;
      this.awaitingInit.delete(socket);
      closeSocket(socket, INIT_TIMEOUT_CODE, 'Connection initialisation timeout');
    }
    const slot = this.slots[this.cursor];
    this.cursor = (this.cursor + 1) % this.slots.length;
    for (const socket of slot) {
      if (this.awaitingPong.has(socket)) {
        this.forget(socket);
        socket.terminate();
        continue;
      }
      this.awaitingPong.add(socket);
      socket.ping();
    }
  }

  private closeExpired(now: number): void {
    let next = Infinity;
    for (const [second, sockets] of this.expiring) {
      if (second * 1000 > now) {
        next = Math.min(next, second);
        continue;
      }
      this.expiring.delete(second);
      for (const socket of sockets) {
        this.expiryOf.delete(socket);
        closeSocket(socket, EXPIRED_CODE, 'Token expired');
      }
    }
    this.nextExpiry = next;
  }
}
