import { Logger } from '@nestjs/common';
import { AsyncQueue } from './async-queue';
import { ConnectionInfo, SLOW_CONSUMER_CLOSE_CODE } from './request-context';

const logger = new Logger('SlowConsumers');

/**
 * The queue of a live subscription whose events are offered as they happen: when its subscriber lets `capacity`
 * of them wait, the subscription ends and its socket is closed as a slow consumer (1013), so the client
 * reconnects and reads what it missed rather than holding memory here.
 */
export class LiveQueue<T> extends AsyncQueue<T> {
  constructor(
    capacity: number,
    private readonly connection: ConnectionInfo | undefined,
    private readonly what: string,
  ) {
    super(capacity);
  }

  offer(item: T): void {
    if (this.push(item) || this.closed) return;
    logger.warn(`closing a slow consumer (${this.connection?.id ?? 'no connection'}): ${this.what} queue at the cap`);
    this.end();
    this.connection?.close(SLOW_CONSUMER_CLOSE_CODE, 'slow consumer: too many undelivered events');
  }
}
