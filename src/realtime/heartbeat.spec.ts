import { EventEmitter } from 'node:events';
import { Heartbeat, WatchedSocket } from './heartbeat';

class FakeSocket extends EventEmitter implements WatchedSocket {
  pings = 0;
  terminated = false;
  closedWith?: number;
  /** Whether this peer answers pings. */
  constructor(private readonly alive = true) {
    super();
  }
  ping(): void {
    this.pings++;
    if (this.alive) queueMicrotask(() => this.emit('pong'));
  }
  terminate(): void {
    this.terminated = true;
  }
  close(code: number): void {
    this.closedWith = code;
  }
}

describe('Heartbeat', () => {
  it('pings each socket once per interval, a slice of them per tick', async () => {
    const heartbeat = new Heartbeat<FakeSocket>(3000, 10_000, 1000);
    const sockets = Array.from({ length: 6 }, () => new FakeSocket());
    sockets.forEach((socket) => heartbeat.watch(socket));

    heartbeat.tick();
    expect(sockets.map((s) => s.pings)).toEqual([1, 0, 0, 1, 0, 0]);
    await Promise.resolve();
    heartbeat.tick();
    heartbeat.tick();
    await Promise.resolve();
    expect(sockets.map((s) => s.pings)).toEqual([1, 1, 1, 1, 1, 1]);

    heartbeat.tick();
    expect(sockets.every((s) => !s.terminated)).toBe(true);
    expect(sockets[0].pings).toBe(2);
  });

  it('terminates a socket that has not answered by its next turn, and only that one', async () => {
    const heartbeat = new Heartbeat<FakeSocket>(2000, 10_000, 1000);
    const dead = new FakeSocket(false);
    const live = new FakeSocket();
    heartbeat.watch(dead);
    heartbeat.watch(live);

    for (let i = 0; i < 4; i++) {
      heartbeat.tick();
      await Promise.resolve();
    }
    expect(dead.terminated).toBe(true);
    expect(dead.pings).toBe(1);
    expect(live.terminated).toBe(false);
    expect(live.pings).toBe(2);
  });

  it('leaves a forgotten socket alone', () => {
    const heartbeat = new Heartbeat<FakeSocket>(1000, 10_000, 1000);
    const socket = new FakeSocket(false);
    heartbeat.watch(socket);
    heartbeat.tick();
    heartbeat.forget(socket);
    heartbeat.tick();
    expect(socket.pings).toBe(1);
    expect(socket.terminated).toBe(false);
  });

  it('closes a socket that has not sent connection_init in time with 4408, and only that one', () => {
    const heartbeat = new Heartbeat<FakeSocket>(30_000, 10_000, 1000);
    const slow = new FakeSocket();
    const prompt = new FakeSocket();
    heartbeat.watch(slow, 0);
    heartbeat.watch(prompt, 0);
    heartbeat.initialised(prompt);

    heartbeat.tick(9_999);
    expect(slow.closedWith).toBeUndefined();
    heartbeat.tick(10_000);
    expect(slow.closedWith).toBe(4408);
    expect(prompt.closedWith).toBeUndefined();
  });

  it('closes a socket with 4403 when its token expires, and not before', () => {
    const heartbeat = new Heartbeat<FakeSocket>(30_000, 10_000, 100);
    const soon = new FakeSocket();
    const later = new FakeSocket();
    const gone = new FakeSocket();
    for (const socket of [soon, later, gone]) heartbeat.watch(socket, 0);
    for (const socket of [soon, later, gone]) heartbeat.initialised(socket);
    heartbeat.expireAt(soon, 5_000);
    heartbeat.expireAt(later, 9_500);
    heartbeat.expireAt(gone, 5_000);
    heartbeat.forget(gone);

    heartbeat.tick(4_999);
    expect([soon.closedWith, later.closedWith]).toEqual([undefined, undefined]);
    heartbeat.tick(5_000);
    expect([soon.closedWith, later.closedWith, gone.closedWith]).toEqual([4403, undefined, undefined]);
    heartbeat.tick(9_999);
    expect(later.closedWith).toBeUndefined();
    heartbeat.tick(10_000);
    expect(later.closedWith).toBe(4403);
  });
});
