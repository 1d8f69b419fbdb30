/** What the heartbeat needs of a socket: `ws`'s WebSocket has all of it. */
export interface PingableSocket {
  ping(): void;
  terminate(): void;
  on(event: 'pong', listener: () => void): unknown;
}

/**
 * Finds dead peers on every socket of the server with one timer, not one per socket: a socket that has not
 * answered the previous ping when its turn comes again is terminated. Sockets are spread over one slot per
 * tick, so each tick pings a slice of them rather than every socket at once (ten thousand writes in one tick
 * would stall the event loop). A dead peer is found between `intervalMs` and twice that after it went away.
 */
export class Heartbeat<S extends PingableSocket> {
  private readonly slots: Set<S>[];
  private readonly awaitingPong = new Set<S>();
  private readonly slotOf = new Map<S, Set<S>>();
  private next = 0;
  private cursor = 0;
  private timer?: NodeJS.Timeout;
  /** One listener shared by every socket (an emitter calls it with itself as `this`), not a closure each. */
  private readonly onPong: () => void;

  constructor(
    private readonly intervalMs: number,
    private readonly tickMs = 1000,
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

  watch(socket: S): void {
    const slot = this.slots[this.next++ % this.slots.length];
    slot.add(socket);
    this.slotOf.set(socket, slot);
    socket.on('pong', this.onPong);
  }

  forget(socket: S): void {
    this.slotOf.get(socket)?.delete(socket);
    this.slotOf.delete(socket);
    this.awaitingPong.delete(socket);
  }

  /** @internal exposed for tests: one tick of the timer. */
  tick(): void {
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
