import type { RequestContext } from './request-context';

/**
 * Values only their owner may see (a user's email): what the viewer is shown is the value when the viewer owns
 * it, and null for anyone else.
 *
 * An execution shared by many viewers (the fastlane encodes an event once per selection) cannot decide that, so
 * its context carries a SharedExecution: the value is written as a marker naming its owner, and each viewer's
 * copy of the encoding gets the value or null in its place.
 */
export const SHARED_EXECUTION = Symbol('sharedExecution');

export interface SharedExecution {
  /** What stands in the shared encoding for `value`, which only `ownerId` may see. */
  ownValue(ownerId: string, value: string): string;
}

type Context = RequestContext & { [SHARED_EXECUTION]?: SharedExecution };

/** The viewer's own user objects handed out before the viewer is known to the context (signUp, signIn). */
const ownedByViewer = new WeakSet<object>();

export function markViewersOwn<T extends object>(value: T): T {
  ownedByViewer.add(value);
  return value;
}

/** `value` as this context's viewer may see it: `parent` is the object the field belongs to. */
export function ownValue(context: Context, parent: object, ownerId: string, value: string | null): string | null {
  if (value === null) return null;
  if (ownedByViewer.has(parent)) return value;
  const shared = context[SHARED_EXECUTION];
  if (shared) return shared.ownValue(ownerId, value);
  return context.viewer?.id === ownerId ? value : null;
}
