import type { MessageRecord } from '../messages/message-record';
import { Followers } from './inbox.service';

function record(seq: number, revision = 0): MessageRecord {
  return { chatId: 'chat', seq, revision, id: `message-${seq}` } as MessageRecord;
}

describe('Followers (one chat, the inboxes of one instance that list it)', () => {
  let followers: Followers;
  let told: unknown[];

  beforeEach(() => {
    jest.useFakeTimers();
    followers = new Followers();
    told = [];
    followers.inboxes.add({
      message: (message: MessageRecord) => told.push([message.seq, message.revision]),
      messageChanged: (message: MessageRecord) => told.push(['changed', message.seq, message.revision]),
    } as never);
  });

  afterEach(() => {
    followers.stop();
    jest.useRealTimers();
  });

  it('tells the messages in seq order, holding one that skips ahead for the ones before it', () => {
    followers.offer(record(1));
    followers.offer(record(3));
    expect(told).toEqual([[1, 0]]);
    followers.offer(record(2));
    expect(told).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
  });

  it('tells a message edited while it was held as it now is, and a change of one already told as a change', () => {
    followers.offer(record(1));
    followers.offer(record(3));
    followers.changedMessage(record(3, 2));
    // An older change arriving after a newer one changes nothing.
    followers.changedMessage(record(3, 1));
    followers.offer(record(2));
    followers.changedMessage(record(2, 2));
    expect(told).toEqual([
      [1, 0],
      [2, 0],
      [3, 2],
      ['changed', 2, 2],
    ]);
  });

  it('lets what it holds go on once the gap outlasts the window, and a late message after it', () => {
    followers.offer(record(1));
    followers.offer(record(3));
    jest.advanceTimersByTime(100);
    followers.offer(record(2));
    expect(told).toEqual([
      [1, 0],
      [3, 0],
      [2, 0],
    ]);
  });
});
