import { ReorderWindow } from './reorder-window';

describe('ReorderWindow', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function window(maxHeld = 10) {
    const passed: number[] = [];
    const ordered = new ReorderWindow<{ seq: number }>((item) => passed.push(item.seq), 25, maxHeld);
    const offer = (...seqs: number[]) => seqs.forEach((seq) => ordered.offer({ seq }));
    return { ordered, passed, offer };
  }

  it('passes events in order at once, starting from whatever comes first', () => {
    const w = window();
    w.offer(7, 8, 9);
    expect(w.passed).toEqual([7, 8, 9]);
  });

  it('holds an event that skips ahead until the ones before it arrive', () => {
    const w = window();
    w.offer(1, 3, 4);
    expect(w.passed).toEqual([1]);
    w.offer(2);
    expect(w.passed).toEqual([1, 2, 3, 4]);
    jest.advanceTimersByTime(100);
    expect(w.passed).toEqual([1, 2, 3, 4]);
  });

  it('passes what it holds, in order, once the gap outlasts the window; a late event still goes on', () => {
    const w = window();
    w.offer(1, 4, 3);
    jest.advanceTimersByTime(24);
    expect(w.passed).toEqual([1]);
    jest.advanceTimersByTime(1);
    expect(w.passed).toEqual([1, 3, 4]);
    // The streams drop what they already have, or read what they miss.
    w.offer(2, 5);
    expect(w.passed).toEqual([1, 3, 4, 2, 5]);
  });

  it('holds at most maxHeld events for one gap', () => {
    const w = window(3);
    w.offer(1, 3, 4);
    expect(w.passed).toEqual([1]);
    w.offer(5);
    expect(w.passed).toEqual([1, 3, 4, 5]);
  });

  it('flushes on demand and drops everything on clear', () => {
    const w = window();
    w.offer(1, 3);
    w.ordered.flush();
    expect(w.passed).toEqual([1, 3]);
    w.offer(5);
    w.ordered.clear();
    jest.advanceTimersByTime(100);
    expect(w.passed).toEqual([1, 3]);
  });
});
