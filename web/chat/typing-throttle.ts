/**
 * When to tell the server that the user is typing: on the first keystroke, then at most once per interval
 * while typing goes on (the server lapses `typing: true` after 5 s, so a 2 s renewal keeps it on), and
 * `false` once when the user stops (blur, send, empty input).
 */
export class TypingThrottle {
  private active = false;
  private lastSentAt = 0;

  constructor(
    private readonly send: (typing: boolean) => void,
    private readonly intervalMs = 2000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  typed(): void {
    const now = this.now();
    if (this.active && now - this.lastSentAt < this.intervalMs) return;
    this.active = true;
    this.lastSentAt = now;
    this.send(true);
  }

  stopped(): void {
    if (!this.active) return;
    this.active = false;
    this.send(false);
  }
}
