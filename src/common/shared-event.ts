/**
 * An event every subscriber shares but for a few fields of the root field's value, such as a presence DIFF's
 * `selfRef`: a consumer that encodes events (the fastlane) encodes `shared` once per selection and splices
 * each subscriber's own values into the shared bytes. Every SharedEvent made with one `shared` object
 * carries the same personal keys, each a nullable String or ID field that the root field's resolver passes
 * through unchanged (it resolves the field to `ownView(event)`).
 */
export class SharedEvent<T extends object> {
  constructor(
    readonly shared: T,
    readonly personal: Readonly<Partial<Record<keyof T & string, string | null>>>,
  ) {}
}

/** The event as one subscriber sees it: what a resolver of a field that may carry SharedEvents returns. */
export function ownView<T extends object>(event: T | SharedEvent<T>): T {
  return event instanceof SharedEvent ? { ...event.shared, ...event.personal } : event;
}
