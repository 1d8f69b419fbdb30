import { gql, ok } from './gql';
import { Recorder, WsClientHandle } from './ws';

export interface Meta {
  ref: string;
  refPrev: string | null;
  userId: string;
  firstName: string;
  typing: boolean;
  onlineAt: string;
}
export interface Group {
  key: string;
  metas: Meta[];
}
export interface PresenceEvent {
  kind: 'STATE' | 'DIFF';
  presences: Group[];
  joins: Group[];
  leaves: Group[];
  selfRef: string | null;
}

const META = 'ref refPrev userId firstName typing onlineAt';
export const PRESENCE = `subscription($chatId: ID!, $track: Boolean) {
  presence(chatId: $chatId, track: $track) {
    kind selfRef
    presences { key metas { ${META} } }
    joins { key metas { ${META} } }
    leaves { key metas { ${META} } }
  }
}`;

export function presence(handle: WsClientHandle, chatId: string, track = true): Recorder<PresenceEvent> {
  return new Recorder<PresenceEvent>(handle, PRESENCE, { chatId, track }, (d) => d.presence as PresenceEvent);
}

/** What a Phoenix client does: start from STATE, then per DIFF add the joins, then drop the leaves. */
export function applyEvents(events: PresenceEvent[]): Map<string, Meta> {
  const metas = new Map<string, Meta>();
  for (const event of events) {
    if (event.kind === 'STATE') {
      metas.clear();
      for (const group of event.presences) for (const meta of group.metas) metas.set(meta.ref, meta);
      continue;
    }
    for (const group of event.joins) for (const meta of group.metas) metas.set(meta.ref, meta);
    for (const group of event.leaves) for (const meta of group.metas) metas.delete(meta.ref);
  }
  return metas;
}

/** A comparable description of a set of metas: "user:ref:typing" sorted. */
export function describe(metas: Iterable<Meta>): string[] {
  return [...metas].map((m) => `${m.userId}:${m.ref}:${m.typing}`).sort();
}

export async function readPresence(url: string, token: string, chatId: string): Promise<Group[]> {
  return ok(
    await gql<{ chat: { presence: Group[] } }>(
      url,
      `query($id: ID!) { chat(id: $id) { presence { key metas { ${META} } } } }`,
      { id: chatId },
      token,
    ),
  ).chat.presence;
}

export const flatten = (groups: Group[]): Meta[] => groups.flatMap((g) => g.metas);

/** Re-checks a condition until it holds (for state that is read, not pushed); fails with the last value. */
export async function eventually<T>(
  read: () => Promise<T>,
  holds: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await read();
    if (holds(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
