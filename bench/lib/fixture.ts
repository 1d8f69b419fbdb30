/**
 * Users, chats and memberships in the app, created once per bench invocation through the public API (signUp,
 * createChat, joinChat) and reused by every scenario and run; baselines get plain names instead.
 */
import { TargetName } from './targets';

export interface Member {
  userId: string;
  firstName: string;
  token?: string;
}
export interface Room {
  id: string;
  members: Member[];
}

const SETUP_CONCURRENCY = 16;

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length || !body.data) throw new Error(`setup: ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

async function inParallel<T>(items: T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(SETUP_CONCURRENCY, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i], i);
      }
    }),
  );
}

/** The app's accounts and chats, grown on demand; `key` names a layout so each is built once. */
export class AppFixture {
  private readonly users: Member[] = [];
  private readonly layouts = new Map<string, Room[]>();

  constructor(private readonly runId: string) {}

  /** `rooms` chats of `perRoom` members; room r's members are users r*perRoom … (r+1)*perRoom-1 from `offset`. */
  async rooms(
    url: string,
    key: string,
    rooms: number,
    perRoom: number,
    report: (line: string) => void,
  ): Promise<Room[]> {
    const existing = this.layouts.get(key);
    if (existing && existing.length >= rooms && existing[0].members.length >= perRoom) {
      return existing.slice(0, rooms).map((room) => ({ id: room.id, members: room.members.slice(0, perRoom) }));
    }
    await this.ensureUsers(url, rooms * perRoom, report);
    const layout: Room[] = [];
    await inParallel(
      Array.from({ length: rooms }, (_, r) => r),
      async (r) => {
        const members = this.users.slice(r * perRoom, (r + 1) * perRoom);
        const data = await gql<{ createChat: { id: string } }>(
          url,
          'mutation($input: CreateChatInput!) { createChat(input: $input) { id } }',
          { input: { roomName: `${key} ${r}` } },
          members[0].token,
        );
        layout[r] = { id: data.createChat.id, members };
      },
    );
    const joins = layout.flatMap((room) => room.members.slice(1).map((member) => ({ room, member })));
    let done = 0;
    await inParallel(joins, async ({ room, member }) => {
      await gql(url, 'mutation($id: ID!) { joinChat(chatId: $id) { id } }', { id: room.id }, member.token);
      if (++done % 500 === 0) report(`setup ${key}: ${done}/${joins.length} memberships`);
    });
    this.layouts.set(key, layout);
    return layout;
  }

  private async ensureUsers(url: string, count: number, report: (line: string) => void): Promise<void> {
    const missing = Array.from({ length: Math.max(0, count - this.users.length) }, (_, i) => this.users.length + i);
    let done = 0;
    await inParallel(missing, async (n) => {
      const firstName = `User ${n}`;
      const data = await gql<{ signUp: { token: string; user: { id: string } } }>(
        url,
        'mutation($input: SignUpInput!) { signUp(input: $input) { token user { id } } }',
        { input: { email: `bench-${this.runId}-${n}@example.com`, firstName, password: 'bench-password' } },
      );
      this.users[n] = { userId: data.signUp.user.id, firstName, token: data.signUp.token };
      if (++done % 500 === 0) report(`setup: ${done}/${missing.length} users signed up`);
    });
  }
}

/** Rooms for a target: the app's real chats and members, or names for a baseline. */
export async function roomsFor(
  target: TargetName,
  fixture: AppFixture,
  appUrl: string | undefined,
  key: string,
  rooms: number,
  perRoom: number,
  report: (line: string) => void,
): Promise<Room[]> {
  if (target === 'app') return fixture.rooms(appUrl!, key, rooms, perRoom, report);
  return Array.from({ length: rooms }, (_, r) => ({
    id: `${key}-${r}`,
    members: Array.from({ length: perRoom }, (_, m) => {
      const name = `u${r * perRoom + m}`;
      // The naive GraphQL baseline takes its "user" from the token.
      return { userId: name, firstName: name, token: name };
    }),
  }));
}
