import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { textFrame, textFrameOf } from './text-frame';

describe('textFrame', () => {
  let server: Server;
  let client: WebSocket;
  /** The server side's raw stream, where the frames are written past ws, as the fastlane does. */
  let stream: NodeJS.WritableStream;

  beforeAll(async () => {
    server = createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    const accepted = new Promise<void>((resolve) =>
      wss.on('connection', (_socket, request) => {
        stream = request.socket;
        resolve();
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await accepted;
  });

  afterAll(async () => {
    client.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const received = () =>
    new Promise<[Buffer, boolean]>((resolve, reject) => {
      client.once('error', reject);
      client.once('message', (data: Buffer, isBinary: boolean) => {
        client.off('error', reject);
        resolve([data, isBinary]);
      });
    });

  it.each([0, 1, 125, 126, 200, 65_535, 65_536, 70_000])(
    'reaches a ws client as one text message of %i bytes, in every length encoding',
    async (size) => {
      const text = Buffer.from('é'.repeat(Math.floor(size / 2)) + 'a'.repeat(size % 2)); // two bytes per é
      const cut = Math.floor(size / 3);
      const message = received();
      stream.write(textFrame(text.subarray(0, cut), text.subarray(cut)));
      const [data, isBinary] = await message;
      expect(isBinary).toBe(false);
      expect(data.equals(text)).toBe(true);
    },
  );

  it.each([0, 130, 70_000])('joins a body given in parts, in their order (%i bytes)', async (size) => {
    const text = Buffer.from('x'.repeat(size) + '"spliced"' + 'y'.repeat(size));
    const parts = [text.subarray(0, size), text.subarray(size, size + 9), Buffer.alloc(0), text.subarray(size + 9)];
    const message = received();
    stream.write(textFrame(Buffer.from('{'), parts));
    const [data] = await message;
    expect(data.toString()).toBe('{' + text.toString());
  });

  it.each([0, 125, 126, 65_535, 65_536])('frames a string of %i bytes as its UTF-8, whole', async (size) => {
    const text = '€'.repeat(Math.floor(size / 3)) + 'a'.repeat(size % 3); // three bytes per €
    const message = received();
    stream.write(textFrameOf(text));
    const [data, isBinary] = await message;
    expect(isBinary).toBe(false);
    expect(data.toString('utf8')).toBe(text);
    expect(textFrameOf(text).equals(textFrame(Buffer.alloc(0), Buffer.from(text)))).toBe(true);
  });

  it('uses the shortest length field', () => {
    expect(textFrame(Buffer.alloc(0), Buffer.alloc(125)).length).toBe(2 + 125);
    expect(textFrame(Buffer.alloc(1), Buffer.alloc(125)).subarray(0, 4)).toEqual(Buffer.from([0x81, 126, 0, 126]));
    expect(textFrame(Buffer.alloc(0), Buffer.alloc(65_536)).subarray(0, 10)).toEqual(
      Buffer.from([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    );
  });
});
