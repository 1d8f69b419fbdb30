/**
 * Baseline 4, the fastest GraphQL subscription server for Node we know of: Fastify with Mercurius, which compiles
 * queries with graphql-jit, speaks graphql-ws (`graphql-transport-ws`) and carries subscription events between
 * instances with its Redis emitter (mqemitter-redis). Same schema, fields and auth as baseline 2; no database:
 * `send` only publishes.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import mercurius, { IResolvers } from 'mercurius';
import mqemitterRedis from 'mqemitter-redis';
import { announce, baselineEnv, exitOnSignal } from './listen';

interface Viewer {
  id: string;
  firstName: string;
}

const schema = `
  type User { id: ID! firstName: String! }
  type Message { id: ID! room: ID! seq: Int! content: String! createdAt: String! user: User! }
  type Query { ok: Boolean }
  type Mutation { send(room: ID!, content: String!): Boolean! }
  type Subscription { messageAdded(room: ID!): Message! }
`;

const topicOf = (room: string) => `mercurius.${room}`;
const seqs = new Map<string, number>();

const resolvers: IResolvers = {
  Query: { ok: () => true },
  Mutation: {
    send: async (_root, args: { room: string; content: string }, context) => {
      const viewer = (context as unknown as { viewer?: Viewer }).viewer ?? { id: 'anonymous', firstName: 'anonymous' };
      const seq = (seqs.get(args.room) ?? 0) + 1;
      seqs.set(args.room, seq);
      // Resolves once the emitter has taken the event (mqemitter-redis: written to Redis).
      await new Promise<void>((resolve) =>
        context.pubsub.publish(
          {
            topic: topicOf(args.room),
            payload: {
              messageAdded: {
                id: randomUUID(),
                room: args.room,
                seq,
                content: args.content,
                createdAt: new Date().toISOString(),
                user: viewer,
              },
            },
          },
          () => resolve(),
        ),
      );
      return true;
    },
  },
  Subscription: {
    messageAdded: {
      subscribe: async (_root, args: { room: string }, context) => context.pubsub.subscribe(topicOf(args.room)),
    },
  },
};

const redis = new URL(baselineEnv.redisUrl);
const emitter = mqemitterRedis({ host: redis.hostname, port: Number(redis.port || 6379) });
const app = Fastify({ logger: false });
void app.register(mercurius, {
  schema,
  resolvers,
  // Compile every query after its first run, as Mercurius's own benchmarks do.
  jit: 1,
  subscription: {
    emitter,
    // Mutations over the socket too, as the other graphql-ws servers take them.
    fullWsTransport: true,
    // The same "auth" as baseline 2: the connection params name the user.
    onConnect: ({ payload }: { payload?: { authorization?: string } }) => {
      const name = payload?.authorization?.replace(/^Bearer /, '') ?? 'anonymous';
      return { viewer: { id: name, firstName: name } };
    },
  },
});

app.listen({ port: baselineEnv.port, host: '127.0.0.1' }).then(
  () => announce(app.server, 'mercurius'),
  (error: unknown) => {
    process.stderr.write(`mercurius: ${String(error)}\n`);
    process.exit(1);
  },
);
exitOnSignal(async () => {
  await app.close();
  await new Promise<void>((resolve) => emitter.close(() => resolve()));
});
