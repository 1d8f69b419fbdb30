/**
 * Baseline 1, the transport's limit: bare `ws` plus a Redis channel per room. A client sends `J<room>` to join
 * and `S<room> <payload>` to send; the payload is published on the room's channel, and every instance that has
 * sockets in the room (it subscribes when the first one joins) writes it to each of them, encoded once.
 */
import { createServer } from 'node:http';
import Redis from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';
import { announce, baselineEnv, exitOnSignal } from './listen';

const publisher = new Redis(baselineEnv.redisUrl);
const subscriber = new Redis(baselineEnv.redisUrl);
const rooms = new Map<string, Set<WebSocket>>();
const channelOf = (room: string) => `relay:${room}`;

subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
  const members = rooms.get(channel.toString().slice('relay:'.length));
  if (!members) return;
  for (const socket of members) socket.send(payload, { binary: false });
});

const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (socket) => {
  const joined = new Set<string>();
  socket.on('message', (data: Buffer) => {
    const text = data.toString();
    if (text[0] === 'J') {
      const room = text.slice(1);
      let members = rooms.get(room);
      if (!members) {
        rooms.set(room, (members = new Set()));
        void subscriber.subscribe(channelOf(room));
      }
      members.add(socket);
      joined.add(room);
    } else if (text[0] === 'S') {
      const space = text.indexOf(' ');
      void publisher.publish(channelOf(text.slice(1, space)), text.slice(space + 1));
    }
  });
  socket.on('close', () => {
    for (const room of joined) {
      const members = rooms.get(room)!;
      members.delete(socket);
      if (!members.size) {
        rooms.delete(room);
        void subscriber.unsubscribe(channelOf(room));
      }
    }
  });
});

server.listen(baselineEnv.port, '127.0.0.1', () => announce(server, 'ws-relay'));
exitOnSignal(async () => {
  for (const socket of wss.clients) socket.terminate();
  await new Promise((resolve) => server.close(resolve));
  publisher.disconnect();
  subscriber.disconnect();
});
