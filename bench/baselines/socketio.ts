/**
 * Baseline 3: Socket.IO with the Redis adapter. Rooms are Socket.IO rooms; `send` broadcasts to the room
 * through the adapter, which reaches every instance over Redis and encodes the packet once per broadcast.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { Server } from 'socket.io';
import { announce, baselineEnv, exitOnSignal } from './listen';

const publisher = new Redis(baselineEnv.redisUrl);
const subscriber = publisher.duplicate();
const server = createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  adapter: createAdapter(publisher, subscriber),
});

io.on('connection', (socket) => {
  socket.on('join', (room: string) => void socket.join(room));
  socket.on('send', (room: string, message: unknown) => {
    io.to(room).emit('m', message);
  });
});

server.listen(baselineEnv.port, '127.0.0.1', () => announce(server, 'socketio'));
exitOnSignal(async () => {
  await io.close();
  publisher.disconnect();
  subscriber.disconnect();
});
