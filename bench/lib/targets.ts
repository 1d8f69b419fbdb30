/**
 * The servers under test: our app and the three baselines. Each knows how to start N instances against the
 * bench's Redis (and, for the app, its database), and how to lay out rooms of subscribers for a scenario.
 */
import { join } from 'node:path';
import { ProtocolConfig } from './protocol';
import { freePort, ServerProcess, startServer } from './processes';

export type TargetName = 'app' | 'ws-relay' | 'graphql-naive' | 'socketio' | 'mercurius';
export const TARGETS: TargetName[] = ['app', 'ws-relay', 'graphql-naive', 'socketio', 'mercurius'];
export const BASELINE_LABELS: Record<Exclude<TargetName, 'app'>, string> = {
  'ws-relay': 'baseline 1 (ws + ioredis relay)',
  'graphql-naive': 'baseline 2 (naive graphql-ws + graphql-redis-subscriptions)',
  socketio: 'baseline 3 (Socket.IO + redis adapter)',
  mercurius: 'baseline 4 (Fastify + Mercurius: graphql-jit, graphql-ws, Redis emitter)',
};

const ROOT = join(__dirname, '..', '..');
const APP_MAIN = join(ROOT, 'dist', 'main.js');
/** The local cluster: N instances behind nginx (P7). */
export const CLUSTER_SCRIPT = join(ROOT, 'scripts', 'cluster.mjs');
const JWT_SECRET = 'bench-secret-that-is-long-enough-0123456789';

/**
 * The one selection every subscriber of the app uses: what a chat client renders for a new message. The
 * baselines' messages carry the same fields.
 */
export const APP_SUBSCRIPTION =
  'subscription($room: ID!) { messageAdded(chatId: $room) { id seq content createdAt user { id firstName } } }';

/**
 * S2m's three selections of the same event, spread over the subscribers: the chat page's (web/chat), everything a
 * schema explorer would tick (the author's email included, which only its owner may see, so it is filled per
 * subscriber), and the least a client can ask for.
 */
export const APP_SUBSCRIPTION_MIX = [
  'subscription($room: ID!) { messageAdded(chatId: $room) { id seq content createdAt editedAt deletedAt revision user { id firstName } } }',
  'subscription($room: ID!) { messageAdded(chatId: $room) { id chatId seq content clientId createdAt editedAt deletedAt revision user { id firstName email createdAt } } }',
  'subscription($room: ID!) { messageAdded(chatId: $room) { seq content } }',
];

/** What a chat list renders for each chat: its name, badge and preview. */
export const APP_INBOX =
  'subscription { inbox { chatId member chat { id roomName lastSeq lastReadSeq unreadCount lastMessage { seq content createdAt user { firstName } } } } }';

export const PROTOCOLS: Record<TargetName, ProtocolConfig> = {
  app: {
    wire: 'graphql-ws',
    subscribeQuery: APP_SUBSCRIPTION,
    sendQuery:
      'mutation($room: ID!, $content: String!) { sendMessage(input: { chatId: $room, content: $content }) { seq } }',
    inboxQuery: APP_INBOX,
  },
  'ws-relay': { wire: 'relay' },
  'graphql-naive': {
    wire: 'graphql-ws',
    subscribeQuery:
      'subscription($room: ID!) { messageAdded(room: $room) { id seq content createdAt user { id firstName } } }',
    sendQuery: 'mutation($room: ID!, $content: String!) { send(room: $room, content: $content) }',
  },
  socketio: { wire: 'socketio' },
  // Baseline 2's schema and operations, served by Mercurius.
  mercurius: {
    wire: 'graphql-ws',
    subscribeQuery:
      'subscription($room: ID!) { messageAdded(room: $room) { id seq content createdAt user { id firstName } } }',
    sendQuery: 'mutation($room: ID!, $content: String!) { send(room: $room, content: $content) }',
  },
};

export interface Environment {
  redisUrl: string;
  databaseUrl: string;
  /** Extra node flags for the app (e.g. --cpu-prof). */
  appNodeArgs: string[];
}

/** Limits raised so that the bench measures throughput, not the abuse limits; everything else as shipped. */
export function appEnv(env: Environment, instanceId: string, port: number): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    INSTANCE_ID: instanceId,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    JWT_SECRET,
    // Logging every request at info would measure pino; warnings and errors still show.
    LOG_LEVEL: 'warn',
    // Sign-up is setup, not what is measured.
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_ITERATIONS: '1',
    RATE_LIMIT_AUTH_PER_MINUTE: '10000000',
    RATE_LIMIT_MESSAGES_PER_SECOND: '100000',
    RATE_LIMIT_MESSAGES_BURST: '100000',
    RATE_LIMIT_TYPING_PER_SECOND: '100000',
    RATE_LIMIT_TYPING_BURST: '100000',
  };
}

export async function startInstances(target: TargetName, env: Environment, count: number): Promise<ServerProcess[]> {
  const started: ServerProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      started.push(
        target === 'app'
          ? await startServer(`app-${i + 1}`, [...env.appNodeArgs, APP_MAIN], appEnv(env, `bench-${i + 1}`, port), {
              url: `http://127.0.0.1:${port}`,
              path: '/health/live',
            })
          : await startServer(`${target}-${i + 1}`, [join(__dirname, 'baselines', `${target}.js`)], {
              PATH: process.env.PATH,
              PORT: '0',
              REDIS_URL: env.redisUrl,
            }),
      );
    }
  } catch (error) {
    await Promise.all(started.map((s) => s.stop()));
    throw error;
  }
  return started;
}

export const wsUrl = (server: ServerProcess, target: TargetName) =>
  target === 'socketio' ? server.url : `${server.url.replace(/^http/, 'ws')}/graphql`;
