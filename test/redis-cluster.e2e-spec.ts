import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_KEY_PREFIX } from './support/env';
import { createChat, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import {
  applyEvents,
  describe as describeMetas,
  eventually,
  flatten,
  presence,
  readPresence,
} from './support/presence';
import { TestRedisCluster } from './support/redis-cluster';
import { connect, messages, WsClientHandle } from './support/ws';

const seqRange = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Two instances on a real Redis Cluster of 3 masters and 3 replicas (the messaging and presence suites run on one
 * too, see live-messages and presence): sharded pub/sub on the shard of each chat, and a master that fails while
 * messages flow and presence changes.
 */
describe('two instances on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let db: TestDatabase;
  let a: AppProcess;
  let b: AppProcess;
  let users: TestUser[];
  const handles: WsClientHandle[] = [];
  const open = (app: AppProcess, user: TestUser) => {
    const handle = connect(app.wsUrl, user.token);
    handles.push(handle);
    return handle;
  };

  beforeAll(async () => {
    [cluster, db] = await Promise.all([TestRedisCluster.start(), TestDatabase.create()]);
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: cluster.url,
      RATE_LIMIT_MESSAGES_BURST: '1000',
      RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
    };
    [a, b] = await Promise.all([
      AppProcess.start({ ...env, INSTANCE_ID: 'cluster-a' }),
      AppProcess.start({ ...env, INSTANCE_ID: 'cluster-b' }),
    ]);
    users = await Promise.all(['Alice', 'Bob', 'Carol', 'Dave'].map((name) => signUp(a.url, name)));
  }, 90_000);

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([db?.drop(), cluster?.stop()]);
  });

  async function chatOfAll(): Promise<string> {
    const [alice, ...others] = users;
    const chatId = await createChat(a.url, alice);
    for (const user of others) await joinChat(a.url, user, chatId);
    return chatId;
  }

  it("subscribes a chat's channel with SSUBSCRIBE on the master of its slot, and nowhere else", async () => {
    const [alice, bob] = users;
    const chatId = await chatOfAll();
    const onA = messages(open(a, alice), chatId, 0);
    const onB = messages(open(b, bob), chatId, 0);
    await sendMessage(a.url, alice, chatId, 'probe');
    await Promise.all([onA.count(1), onB.count(1)]);

    const channel = `${TEST_KEY_PREFIX}chat.{${chatId}}.messages`;
    const master = await cluster.masterOf(channel);
    // One sharded subscription per instance, on the shard that owns the channel.
    expect(await cluster.command(master, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 2]);
    // Nothing on classic pub/sub, which a cluster would broadcast to every node.
    expect(await cluster.command(master, 'PUBSUB', 'NUMSUB', channel)).toEqual([channel, 0]);
    // The chat's presence keys live on that same shard (the scripts publish there).
    expect(await cluster.masterOf(`${TEST_KEY_PREFIX}presence:{${chatId}}:metas`)).toBe(master);
  });

  it('an instance killed with SIGKILL: its metas, on another shard than the leases, leave within 5 s', async () => {
    const [alice, bob] = users;
    const leasesMaster = await cluster.masterOf(`${TEST_KEY_PREFIX}presence:{instances}:leases`);
    // A chat whose presence lives on another shard than the instances' leases and chat lists.
    let chatId = await chatOfAll();
    while ((await cluster.masterOf(`${TEST_KEY_PREFIX}presence:{${chatId}}:metas`)) === leasesMaster) {
      chatId = await chatOfAll();
    }
    const victim = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: cluster.url,
      INSTANCE_ID: 'cluster-victim',
    });
    const watcher = presence(open(a, alice), chatId);
    const bobTabs = [presence(open(victim, bob), chatId), presence(open(victim, bob), chatId)];
    await Promise.all(bobTabs.map((t) => t.count(1)));
    await watcher.until(() => applyEvents(watcher.data).size === 3, 'three metas');
    const t0 = Date.now();
    await victim.kill();
    await watcher.until(
      () => [...applyEvents(watcher.data).values()].every((m) => m.userId !== bob.id),
      "bob's metas leaving",
      10_000,
    );
    const elapsed = Date.now() - t0;
    console.log(`redis cluster: SIGKILL cleanup observed after ${elapsed} ms`);
    expect(elapsed).toBeLessThan(5000);
    for (const app of [a, b]) {
      expect(flatten(await readPresence(app.url, alice.token, chatId)).map((m) => m.userId)).toEqual([alice.id]);
    }
    // Nothing of the dead instance is left: no lease, no list of chats, no owner set in the chat.
    const chatMaster = await cluster.masterOf(`${TEST_KEY_PREFIX}presence:{${chatId}}:metas`);
    expect(
      await cluster.command(leasesMaster, 'ZSCORE', `${TEST_KEY_PREFIX}presence:{instances}:leases`, 'cluster-victim'),
    ).toBeNull();
    expect(
      await cluster.command(leasesMaster, 'EXISTS', `${TEST_KEY_PREFIX}presence:{instances}:chats:cluster-victim`),
    ).toBe(0);
    expect(
      await cluster.command(chatMaster, 'EXISTS', `${TEST_KEY_PREFIX}presence:{${chatId}}:owned:cluster-victim`),
    ).toBe(0);
  });

  it('survives a master failing while messages flow and presence changes: every seq once, in order, and no ghost', async () => {
    const [alice, bob, carol, dave] = users;
    const chatId = await chatOfAll();
    const onA = messages(open(a, alice), chatId, 0);
    const onB = messages(open(b, bob), chatId, 0);
    const watchers = [presence(open(a, alice), chatId), presence(open(b, bob), chatId)];
    const daveTab = presence(open(a, dave), chatId);
    const carolSocket = connect(b.wsUrl, carol.token);
    const carolTab = presence(carolSocket, chatId);
    for (const w of [...watchers, daveTab, carolTab]) await w.until(() => applyEvents(w.data).size >= 4, 'four metas');

    const victim = await cluster.masterOf(`${TEST_KEY_PREFIX}presence:{${chatId}}:metas`);
    let sent = 0;
    let failedSends = 0;
    let sending = true;
    let sentDuringOutage = 0;
    let outage = false;
    const sender = (async () => {
      while (sending) {
        if (outage) sentDuringOutage++;
        const [app, user] = sent % 2 ? [b, bob] : [a, alice];
        try {
          await sendMessage(app.url, user, chatId, `m${sent}`);
        } catch {
          failedSends++; // a send that failed never committed a seq; the checks below use the committed ones
        }
        sent++;
        await sleep(10);
      }
    })();

    await onA.until(() => onA.data.length >= 20, '20 messages before the failure');
    await cluster.kill(victim);
    outage = true;
    // Carol's tab closes while her chat's shard has no master: the instance cannot remove her meta now.
    await carolSocket.dispose();
    const promotedTo = await cluster.waitForMaster(`${TEST_KEY_PREFIX}presence:{${chatId}}:metas`, victim);
    const promotedAt = Date.now();
    outage = false;
    await sleep(1000); // and some more after it
    sending = false;
    await sender;

    // Presence: alice, bob and dave, the same on both instances and for every subscriber; carol is not a ghost.
    const expected = [alice.id, bob.id, dave.id].sort();
    const usersIn = (metas: { userId: string }[]) => metas.map((m) => m.userId).sort();
    for (const app of [a, b]) {
      await eventually(
        () => readPresence(app.url, alice.token, chatId),
        (groups) => JSON.stringify(usersIn(flatten(groups))) === JSON.stringify(expected),
        15_000,
      );
    }
    const truth = describeMetas(flatten(await readPresence(a.url, alice.token, chatId)));
    for (const w of [...watchers, daveTab]) {
      await w.until(
        () => JSON.stringify(describeMetas(applyEvents(w.data).values())) === JSON.stringify(truth),
        'the view to converge',
        15_000,
      );
    }
    const converged = Date.now() - promotedAt;

    // Messages: every committed seq once, in order, on both instances.
    const lastSeq = ok(
      await gql<{ chat: { lastSeq: number } }>(
        a.url,
        'query($id: ID!) { chat(id: $id) { lastSeq } }',
        { id: chatId },
        alice.token,
      ),
    ).chat.lastSeq;
    expect(lastSeq).toBe(sent - failedSends);
    await Promise.all([onA.count(lastSeq), onB.count(lastSeq)]);
    await sleep(300); // nothing more may arrive
    expect(onA.data.map((m) => m.seq)).toEqual(seqRange(1, lastSeq));
    expect(onB.data.map((m) => m.seq)).toEqual(seqRange(1, lastSeq));
    expect(onA.errors).toEqual([]);
    expect(onB.errors).toEqual([]);
    expect(sentDuringOutage).toBeGreaterThan(0);
    // Both instances lost their subscriber on the failed master and re-read what they may have missed.
    for (const app of [a, b]) expect(app.logs).toContain('listeners re-read what they may have missed');
    console.log(
      `redis cluster failover: master ${victim} -> ${promotedTo}; ${sent} sends (${failedSends} failed, ` +
        `${sentDuringOutage} while the shard had no master), ` +
        `presence converged ${converged} ms after the promotion`,
    );
    expect(converged).toBeLessThanOrEqual(5000);
  });
});
