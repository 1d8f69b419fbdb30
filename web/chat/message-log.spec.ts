import { ChatMessage, MessageLog } from './message-log';

const message = (seq: number): ChatMessage => ({
  id: `m${seq}`,
  seq,
  content: `message ${seq}`,
  createdAt: new Date(0).toISOString(),
  user: { id: 'u', firstName: 'Ann' },
});

describe('MessageLog', () => {
  it('returns only unseen messages, oldest first, and tracks the newest seq for resuming', () => {
    const log = new MessageLog();
    expect(log.newestSeq).toBe(0);
    expect(log.add([message(4), message(3)]).map((m) => m.seq)).toEqual([3, 4]);
    // A resumed subscription replays what the page already shows.
    expect(log.add([message(4), message(5)]).map((m) => m.seq)).toEqual([5]);
    expect(log.newestSeq).toBe(5);
    // An older page does not move the resume point.
    expect(log.add([message(1), message(2)]).map((m) => m.seq)).toEqual([1, 2]);
    expect(log.newestSeq).toBe(5);
  });
});
