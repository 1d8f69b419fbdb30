import { AffectedTopics, EventBus } from '../pubsub/event-bus';
import { LocalEventBus } from '../pubsub/local-event-bus';
import { topics } from '../pubsub/topics';
import { ChatsRepository } from './chats.repository';
import { MembershipWatch, MembershipWatcher } from './membership-watch';

describe('MembershipWatch', () => {
  const chatId = 'chat-1';
  const left = (bus: LocalEventBus, userId: string) =>
    bus.publish(topics.membership(chatId), { kind: 'left', chatId, userId });

  function setUp() {
    const bus = new LocalEventBus();
    const subscribe = jest.spyOn(bus, 'subscribe');
    const watch = new MembershipWatch(bus, {} as ChatsRepository);
    const ended: string[] = [];
    const watcher = (name: string): MembershipWatcher => ({ end: () => ended.push(name), closed: false });
    return { bus, subscribe, watch, ended, watcher };
  }

  it("ends every one of a member's watchers when they leave, and no other member's", async () => {
    const { bus, watch, ended, watcher } = setUp();
    await watch.watch(chatId, 'ann', watcher('ann 1'));
    await watch.watch(chatId, 'ann', watcher('ann 2'));
    await watch.watch(chatId, 'bob', watcher('bob'));
    await left(bus, 'ann');
    expect(ended).toEqual(['ann 1', 'ann 2']);
    await left(bus, 'bob');
    expect(ended).toEqual(['ann 1', 'ann 2', 'bob']);
  });

  it('stops ending a watcher once it is unwatched, and leaves the bus with the last one', async () => {
    const { bus, subscribe, watch, ended, watcher } = setUp();
    const [first, second, third] = [watcher('first'), watcher('second'), watcher('third')];
    for (const each of [first, second, third]) await watch.watch(chatId, 'ann', each);
    watch.unwatch(chatId, 'ann', second);
    watch.unwatch(chatId, 'ann', second);
    await left(bus, 'ann');
    expect(ended).toEqual(['first', 'third']);

    watch.unwatch(chatId, 'ann', first);
    watch.unwatch(chatId, 'ann', third);
    await left(bus, 'ann');
    expect(ended).toEqual(['first', 'third']);
    // The chat's one bus subscription was let go: a new watcher makes a new one.
    expect(subscribe).toHaveBeenCalledTimes(1);
    const again = watcher('again');
    await watch.watch(chatId, 'ann', again);
    expect(subscribe).toHaveBeenCalledTimes(2);
    watch.unwatch(chatId, 'bob', again);
    await left(bus, 'ann');
    expect(ended).toEqual(['first', 'third', 'again']);
  });

  it('holds deliveries after a bus reconnect until a re-check succeeds, trying again while the database fails', async () => {
    jest.useFakeTimers();
    try {
      const { bus, reconnected } = busThatReconnects();
      let failures = 2;
      const isMember = jest.fn(async (_chatId: string, userId: string) => {
        if (failures > 0) {
          failures--;
          throw new Error('connection refused');
        }
        return userId !== 'bob';
      });
      const watch = new MembershipWatch(bus, { isMember } as unknown as ChatsRepository);
      watch.onModuleInit();
      const ended: string[] = [];
      await watch.watch(chatId, 'ann', { end: () => ended.push('ann'), closed: false });
      await watch.watch(chatId, 'bob', { end: () => ended.push('bob'), closed: false });

      reconnected();
      const delivered: string[] = [];
      watch.afterCheck((item: string) => delivered.push(item), 'held');
      await jest.advanceTimersByTimeAsync(100);
      expect(delivered).toEqual([]);
      await jest.advanceTimersByTimeAsync(10_000);
      // Bob left while the bus was away: his watcher ended before the held delivery went out.
      expect(ended).toEqual(['bob']);
      expect(delivered).toEqual(['held']);
      expect(isMember.mock.calls.length).toBeGreaterThanOrEqual(4);
    } finally {
      jest.useRealTimers();
    }
  });

  it('lets held deliveries go once re-checks have failed for some seconds, rather than hold them without end', async () => {
    jest.useFakeTimers();
    try {
      const { bus, reconnected } = busThatReconnects();
      const isMember = jest.fn(() => Promise.reject(new Error('connection refused')));
      const watch = new MembershipWatch(bus, { isMember } as unknown as ChatsRepository);
      watch.onModuleInit();
      await watch.watch(chatId, 'ann', { end: () => undefined, closed: false });
      reconnected();
      const delivered: string[] = [];
      watch.afterCheck((item: string) => delivered.push(item), 'held');
      await jest.advanceTimersByTimeAsync(5_000);
      expect(delivered).toEqual([]);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(delivered).toEqual(['held']);
      const attempts = isMember.mock.calls.length;
      expect(attempts).toBeGreaterThan(2);
      // Given up: no more attempts.
      await jest.advanceTimersByTimeAsync(60_000);
      expect(isMember.mock.calls.length).toBe(attempts);
    } finally {
      jest.useRealTimers();
    }
  });

  it('does not watch a watcher that has ended already', async () => {
    const { bus, subscribe, watch, ended } = setUp();
    await watch.watch(chatId, 'ann', { end: () => ended.push('ended one'), closed: true });
    expect(subscribe).not.toHaveBeenCalled();
    await left(bus, 'ann');
    expect(ended).toEqual([]);
  });
});

/** An in-process bus whose reconnect the test triggers: `reconnected()` tells its listener every topic was affected. */
function busThatReconnects(): { bus: LocalEventBus; reconnected: () => void } {
  const bus = new LocalEventBus();
  let listener: (affected: AffectedTopics) => void = () => undefined;
  jest.spyOn(bus as EventBus, 'onReconnect').mockImplementation((added: (affected: AffectedTopics) => void) => {
    listener = added;
    return () => undefined;
  });
  return { bus, reconnected: () => listener(() => true) };
}
