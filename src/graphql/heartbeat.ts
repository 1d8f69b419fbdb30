/** What the heartbeat needs of a socket: `ws`'s WebSocket has all of it. */
export interface WatchedSocket {
  ping(): void;
  terminate(): void;
  close(code: number, reason: string): void;
  on(event: 'pong', listener: () => void): unknown;
}

/** graphql-ws's close code for a socket that did not send connection_init in time. */
const INIT_TIMEOUT_CODE = 4408;

/**
 * Watches every socket of the server with one timer, not timers per socket:
 * - liveness: a socket that has not answered the previous ping when its turn comes again is terminated. Sockets
 *   are spread over one slot per tick, so each tick pings a slice of them rather than every socket at once. Ticks
 *   are short (100 ms) so that slices are small: at ten thousand sockets and a 30 s interval, a slice per second
 *   (333 pings and their pongs) held the event loop for tens of milliseconds every second, which showed in
 *   message latency; a slice per 100 ms is a tenth of that. A dead peer goes between `intervalMs` and twice that.
 * - connection_init: a socket that has not sent it within `initTimeoutMs` is closed with 4408, as graphql-ws
 *   would (to the next tick).
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

  forget(socket: S): void {
    this.slotOf.get(socket)?.delete(socket);
    this.slotOf.delete(socket);
    this.awaitingPong.delete(socket);
    this.awaitingInit.delete(socket);
  }

  /** @internal exposed for tests: one tick of the timer. */
  tick(now = Date.now()): void {
    for (const [socket, deadline] of this.awaitingInit) {
      if (deadline > now) continue;
      this.awaitingInit.delete(socket);
      socket.close(INIT_TIMEOUT_CODE, 'Connection initialisation timeout');
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
}
