import { LocalEventBus } from '../pubsub/local-event-bus';
import { topics } from '../pubsub/topics';
import { ChatsRepository } from './chats.repository';
import { MembershipWatch } from './membership-watch';

describe('MembershipWatch', () => {
  const chatId = 'chat-1';
  const left = (bus: LocalEventBus, userId: string) =>
    bus.publish(topics.membership(chatId), { kind: 'left', chatId, userId });

  function setUp() {
    const bus = new LocalEventBus();
    const subscribe = jest.spyOn(bus, 'subscribe');
    const watch = new MembershipWatch(bus, {} as ChatsRepository);
    return { bus, subscribe, watch };
  }

  it("ends every one of a member's watchers when they leave, and no other member's", async () => {
    const { bus, watch } = setUp();
    const ended: string[] = [];
    await watch.watch(chatId, 'ann', () => ended.push('ann 1'));
    await watch.watch(chatId, 'ann', () => ended.push('ann 2'));
    await watch.watch(chatId, 'bob', () => ended.push('bob'));
    await left(bus, 'ann');
    expect(ended).toEqual(['ann 1', 'ann 2']);
    await left(bus, 'bob');
    expect(ended).toEqual(['ann 1', 'ann 2', 'bob']);
  });

  it('stops calling a watcher once it unwatches, and leaves the bus with the last one', async () => {
    const { bus, subscribe, watch } = setUp();
    const ended: string[] = [];
    const first = await watch.watch(chatId, 'ann', () => ended.push('first'));
    const second = await watch.watch(chatId, 'ann', () => ended.push('second'));
    const third = await watch.watch(chatId, 'ann', () => ended.push('third'));
    second();
    second();
    await left(bus, 'ann');
    expect(ended).toEqual(['first', 'third']);

    first();
    third();
    await left(bus, 'ann');
    expect(ended).toEqual(['first', 'third']);
    // The chat's one bus subscription was let go: a new watcher makes a new one.
    expect(subscribe).toHaveBeenCalledTimes(1);
    await watch.watch(chatId, 'ann', () => ended.push('again'));
    expect(subscribe).toHaveBeenCalledTimes(2);
    await left(bus, 'ann');
    expect(ended).toEqual(['first', 'third', 'again']);
  });
});
