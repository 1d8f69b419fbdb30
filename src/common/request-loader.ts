import DataLoader from 'dataloader';

/**
 * One DataLoader per request context and per loader name, so a list of N parents costs one batched query
 * per field rather than N. Keyed weakly by the context object: it goes away with the request. Nothing is cached:
 * over graphql-ws one context serves every operation and every event of a socket, which must each read afresh.
 */
export class RequestLoader<K, V, C extends object = object> {
  private readonly loaders = new WeakMap<C, DataLoader<K, V>>();

  /** `batch` is also given the context, for what every key shares (the viewer). */
  constructor(private readonly batch: (keys: readonly K[], context: C) => Promise<V[]>) {}

  load(context: C, key: K): Promise<V> {
    let loader = this.loaders.get(context);
    if (!loader) {
      loader = new DataLoader<K, V>((keys) => this.batch(keys, context), { maxBatchSize: 500, cache: false });
      this.loaders.set(context, loader);
    }
    return loader.load(key);
  }
}
