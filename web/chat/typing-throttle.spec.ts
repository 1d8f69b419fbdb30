import { TypingThrottle } from './typing-throttle';

describe('TypingThrottle', () => {
  let now = 0;
  let sent: boolean[] = [];
  const throttle = () =>
    new TypingThrottle(
      (typing) => sent.push(typing),
      2000,
      () => now,
    );

  beforeEach(() => {
    now = 1_000_000;
    sent = [];
  });

  it('sends true on the first keystroke and renews it at most once per interval', () => {
    const typing = throttle();
    typing.typed();
    now += 500;
    typing.typed();
    now += 1499;
    typing.typed();
    expect(sent).toEqual([true]);
    now += 1;
    typing.typed();
    expect(sent).toEqual([true, true]);
  });

  it('sends false once when typing stops, and nothing when it never started', () => {
    const typing = throttle();
    typing.stopped();
    expect(sent).toEqual([]);
    typing.typed();
    typing.stopped();
    typing.stopped();
    expect(sent).toEqual([true, false]);
    // Typing again right after a stop is news at once.
    typing.typed();
    expect(sent).toEqual([true, false, true]);
  });
});
