/** What a personal value may be: a scalar a field resolves to. */
export type PersonalValue = string | number | boolean | null;

/**
 * An event every subscriber shares but for a few fields that differ per subscriber, such as a presence DIFF's
 * `selfRef` or an inbox summary's unread count. A consumer that encodes events (the fastlane) encodes `shared`
 * once per selection and splices each subscriber's `personal` values into the shared bytes, wherever the
 * selection has those fields: they are the fields declared Personal (common/operation-hints), keyed
 * `<Type>.<field>`. Any other consumer executes `own()`, the event as its one subscriber sees it.
 */
export class SharedEvent<T extends object> {
  constructor(
    readonly shared: T,
    readonly personal: Readonly<Record<string, PersonalValue>>,
    private readonly view: () => T,
  ) {}

  own(): T {
    return this.view();
  }
}

/** The event as one subscriber sees it: what the resolver of a field that may carry SharedEvents returns. */
export function ownView<T extends object>(event: T | SharedEvent<T>): T {
  return event instanceof SharedEvent ? event.own() : event;
}
