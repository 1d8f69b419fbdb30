import { randomUUID } from 'node:crypto';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, gql, joinChat, ok, signUp, TestUser } from './support/gql';
import { canRunCluster, LocalCluster } from './support/local-cluster';
import {
  applyEvents,
  describe as describeMetas,
  eventually,
  presence,
  PresenceEvent,
  readPresence,
} from './support/presence';
import { connect, LiveMessage, messages, Recorder, WsClientHandle } from './support/ws';

/** One connection of a client: its two subscriptions. */
interface Session {
  handle: WsClientHandle;
  feed: Recorder<LiveMessage>;
  watch: Recorder<PresenceEvent>;
}

/**
 * A chat client as a real app writes one, through the load balancer: on any close it reconnects (the balancer
 * picks an instance), resumes messageAdded with afterSeq = the last seq it saw, and tracks presence again.
 * It keeps every session, so the test can check "every message exactly once" and "no meta left without cause".
 */
class ResumingClient {
  private readonly sessions: Session[] = [];
  private stopped = false;

  constructor(
    readonly user: TestUser,
    private readonly wsUrl: string,
    private readonly chatId: string,
  ) {}

  /** Every seq received, over all sessions, in arrival order. */
  get seqs(): number[] {
    return this.sessions.flatMap((s) => s.feed.data.map((m) => m.seq));
  }

  get lastSeq(): number {
    return this.seqs.at(-1) ?? 0;
  }

  get reconnects(): number {
    return this.sessions.length - 1;
  }

  /** The ref each session tracked (from its STATE), if it got that far. */
  private selfRef(session: Session | undefined): string | undefined {
    return session?.watch.data.find((e) => e.kind === 'STATE')?.selfRef ?? undefined;
  }

  get currentRef(): string | undefined {
    return this.selfRef(this.sessions.at(-1));
  }

  /** Refs of the sessions that have ended. */
  get endedRefs(): string[] {
    return this.sessions.slice(0, -1).flatMap((s) => this.selfRef(s) ?? []);
  }

  get allRefs(): string[] {
    return this.sessions.flatMap((s) => this.selfRef(s) ?? []);
  }

  /** Refs seen leaving / joining in DIFFs, over every session. */
  diffRefs(side: 'leaves' | 'joins'): string[] {
    return this.sessions.flatMap((s) =>
      s.watch.data.flatMap((e) => (e.kind === 'DIFF' ? e[side].flatMap((g) => g.metas.map((m) => m.ref)) : [])),
    );
  }

  /** Refs that one session saw join twice, or leave twice: churn that no socket caused. */
  repeatedDiffRefs(): string[] {
    return this.sessions.flatMap((s) =>
      (['joins', 'leaves'] as const).flatMap((side) => {
        const refs = s.watch.data.flatMap((e) => (e.kind === 'DIFF' ? e[side].flatMap((g) => g.metas) : []));
        return refs.map((m) => m.ref).filter((ref, i, all) => all.indexOf(ref) !== i);
      }),
    );
  }

  /** The current session's presence view: STATE then DIFFs applied, joins before leaves. */
  view(): string[] {
    return describeMetas(applyEvents(this.sessions.at(-1)?.watch.data ?? []).values());
  }

  open(): void {
    const handle = connect(this.wsUrl, this.user.token);
    const session = { handle, feed: messages(handle, this.chatId, this.lastSeq), watch: presence(handle, this.chatId) };
    this.sessions.push(session);
    let reopened = false;
    const reopen = () => {
      if (reopened || this.stopped) return;
      reopened = true;
      void handle.dispose();
      setTimeout(() => this.open(), 50 + Math.random() * 100);
    };
    // A closed socket (its instance drained) or an ended subscription: start a new session.
    void handle.closed.then(reopen);
    void session.feed.ended.then(reopen);
    void session.watch.ended.then(reopen);
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.sessions.at(-1)?.handle.dispose();
  }
}

const seqRange = (to: number) => Array.from({ length: to }, (_, i) => i + 1);

/** The product as it runs in production: three instances behind nginx, Redis between them, one PostgreSQL. */
(canRunCluster ? describe : describe.skip)('three instances behind the load balancer', () => {
  let db: TestDatabase;
  let cluster: LocalCluster;
  const clients: ResumingClient[] = [];

  beforeAll(async () => {
    db = await TestDatabase.create();
    cluster = await LocalCluster.start(3, {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      RATE_LIMIT_MESSAGES_BURST: '1000',
    });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await cluster?.close();
    await db?.drop();
  });

  const connectionsPerInstance = () =>
    Promise.all(
      cluster.instanceUrls.map(async (url) => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return Number(/^chat_ws_connections\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
      }),
    );

  it('chats across instances, and survives a rolling restart with every message exactly once and no ghost', async () => {
    const users = await Promise.all(['Ann', 'Ben', 'Cat', 'Dan', 'Eve', 'Fay'].map((n) => signUp(cluster.url, n)));
    const chatId = await createChat(cluster.url, users[0]);
    for (const user of users.slice(1)) await joinChat(cluster.url, user, chatId);

    // One at a time, so nginx's round robin spreads the sockets over the three instances.
    for (const user of users) {
      const client = new ResumingClient(user, cluster.wsUrl, chatId);
      clients.push(client);
      client.open();
      await eventually(async () => client.currentRef, Boolean, 20_000);
    }
    expect((await connectionsPerInstance()).every((count) => count >= 1)).toBe(true);

    // Everyone sees everyone, whichever instance they are on, and what each instance reports agrees.
    const everyone = () => clients.map((c) => `${c.user.id}:${c.currentRef}:false`).sort();
    for (const client of clients)
      await eventually(
        async () => client.view(),
        (v) => equal(v, everyone()),
      );
    for (const url of cluster.instanceUrls) {
      const metas = (await readPresence(url, users[0].token, chatId)).flatMap((g) => g.metas);
      expect(describeMetas(metas)).toEqual(everyone());
    }

    // Messages flow the whole time: each send carries a clientId and is retried until it is acknowledged,
    // as a client does when the instance behind its request goes away.
    let sent = 0;
    let sending = true;
    const send = async (user: TestUser, content: string) => {
      const clientId = randomUUID();
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await gql<{ sendMessage: LiveMessage }>(
            cluster.url,
            'mutation($input: SendMessageInput!) { sendMessage(input: $input) { seq } }',
            { input: { chatId, content, clientId } },
            user.token,
          );
          if (response.data?.sendMessage) return;
          if (attempt > 50) throw new Error(`send kept failing: ${JSON.stringify(response).slice(0, 300)}`);
        } catch (error) {
          if (attempt > 50) throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const sender = (async () => {
      while (sending) {
        await send(users[sent % users.length], `message ${sent + 1}`);
        sent++;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    await eventually(
      async () => sent,
      (n) => n >= 20,
    );

    await cluster.rollingRestart();
    const sentDuringRoll = sent;
    await eventually(
      async () => sent,
      (n) => n >= sentDuringRoll + 10,
    );
    sending = false;
    await sender;

    // Every message, once, in order, for every client, however many times it reconnected.
    for (const client of clients) {
      await eventually(
        async () => client.lastSeq,
        (seq) => seq >= sent,
        30_000,
      );
      expect(client.seqs).toEqual(seqRange(sent));
      expect(client.reconnects).toBeGreaterThanOrEqual(1);
    }

    // Presence converges on exactly the live sessions: no ghost of a closed socket, on any instance.
    for (const client of clients) await eventually(async () => client.currentRef, Boolean, 20_000);
    for (const client of clients)
      await eventually(
        async () => client.view(),
        (v) => equal(v, everyone()),
        20_000,
      );
    for (const url of cluster.instanceUrls) {
      const metas = await eventually(
        async () => (await readPresence(url, users[0].token, chatId)).flatMap((g) => g.metas),
        (m) => equal(describeMetas(m), everyone()),
      );
      expect(describeMetas(metas)).toEqual(everyone());
    }

    // No storm: a meta left only because its own socket closed, and joined only because a session began.
    const ended = new Set(clients.flatMap((c) => c.endedRefs));
    const began = new Set(clients.flatMap((c) => c.allRefs));
    for (const client of clients) {
      expect(client.diffRefs('leaves').filter((ref) => !ended.has(ref))).toEqual([]);
      expect(client.diffRefs('joins').filter((ref) => !began.has(ref))).toEqual([]);
    }

    // Each instance came back under its own id and is serving again.
    for (const url of cluster.instanceUrls) expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    expect(
      ok(
        await gql<{ chat: { lastSeq: number } }>(
          cluster.url,
          `{ chat(id: "${chatId}") { lastSeq } }`,
          {},
          users[1].token,
        ),
      ).chat.lastSeq,
    ).toBe(sent);
  }, 240_000);
});

function equal(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
