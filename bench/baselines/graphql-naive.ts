/**
 * Baseline 2, what most tutorials build: graphql-ws's `useServer` with a graphql-js schema and
 * graphql-redis-subscriptions. `messageAdded(room)` iterates a per-room topic (no `withFilter`), and graphql-js
 * executes and serializes every subscription for every event. No database: `send` only publishes.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import {
  GraphQLBoolean,
  GraphQLID,
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
} from 'graphql';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { useServer } from 'graphql-ws/use/ws';
import Redis from 'ioredis';
import { WebSocketServer } from 'ws';
import { announce, baselineEnv, exitOnSignal } from './listen';

interface Viewer {
  id: string;
  firstName: string;
}
interface Message {
  id: string;
  room: string;
  seq: number;
  content: string;
  createdAt: string;
  user: Viewer;
}

const pubsub = new RedisPubSub({
  publisher: new Redis(baselineEnv.redisUrl),
  subscriber: new Redis(baselineEnv.redisUrl),
});
const topicOf = (room: string) => `naive.${room}`;
const seqs = new Map<string, number>();

const id = { type: new GraphQLNonNull(GraphQLID) };
const string = { type: new GraphQLNonNull(GraphQLString) };
const UserType = new GraphQLObjectType({ name: 'User', fields: { id, firstName: string } });
const MessageType = new GraphQLObjectType({
  name: 'Message',
  fields: {
    id,
    room: id,
    seq: { type: new GraphQLNonNull(GraphQLInt) },
    content: string,
    createdAt: string,
    user: { type: new GraphQLNonNull(UserType) },
  },
});

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLBoolean, resolve: () => true } } }),
  mutation: new GraphQLObjectType({
    name: 'Mutation',
    fields: {
      send: {
        type: new GraphQLNonNull(GraphQLBoolean),
        args: { room: id, content: string },
        resolve: async (_root, args: { room: string; content: string }, viewer: Viewer) => {
          const seq = (seqs.get(args.room) ?? 0) + 1;
          seqs.set(args.room, seq);
          const message: Message = {
            id: randomUUID(),
            room: args.room,
            seq,
            content: args.content,
            createdAt: new Date().toISOString(),
            user: viewer,
          };
          await pubsub.publish(topicOf(args.room), { messageAdded: message });
          return true;
        },
      },
    },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      messageAdded: {
        type: new GraphQLNonNull(MessageType),
        args: { room: id },
        subscribe: (_root, args: { room: string }) => pubsub.asyncIterator<Message>(topicOf(args.room)),
      },
    },
  }),
});

const server = createServer();
const wss = new WebSocketServer({ server, path: '/graphql', perMessageDeflate: false });
const serverCleanup = useServer(
  {
    schema,
    // The tutorial's "auth": the connection params name the user.
    context: (ctx): Viewer => {
      const params = ctx.connectionParams as { authorization?: string } | undefined;
      const name = params?.authorization?.replace(/^Bearer /, '') ?? 'anonymous';
      return { id: name, firstName: name };
    },
  },
  wss,
);

server.listen(baselineEnv.port, '127.0.0.1', () => announce(server, 'graphql-naive'));
exitOnSignal(async () => {
  await serverCleanup.dispose();
  await new Promise((resolve) => server.close(resolve));
  await pubsub.close();
});
