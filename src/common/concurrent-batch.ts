import DataLoader from 'dataloader';

/**
 * Lookups that arrive together, from any requests or sockets, share one query. A reconnect storm is thousands of
 * subscriptions asking the same questions (does this user exist, is this user a member, where does the chat
 * stand) within milliseconds; one query each cost a pool round trip apiece, and those round trips were half of
 * what opening a subscription cost. Calls made before the event loop's next check phase (setImmediate) go as one
 * batch. Nothing is cached: every answer is read after the call that asked for it, as a query of its own would be.
 *
 * `batch` gets the keys in call order and returns one value per key, in the same order.
 */
export function concurrentBatch<K, V>(batch: (keys: readonly K[]) => Promise<V[]>): DataLoader<K, V> {
  return new DataLoader<K, V>((keys) => batch(keys), {
    cache: false,
    maxBatchSize: 500,
    batchScheduleFn: (run) => setImmediate(run),
  });
}
