/**
 * A load-generator worker (forked by run.ts). It holds up to ~19,900 sockets (the fd limit), subscribes them,
 * sends at a given rate from the clients chosen as senders, and counts every delivery with its latency in HDR
 * histograms. It shares the machine's two cores with the server under test, so the receive path is kept lean:
 * a delivery is found with one Buffer.indexOf on the raw frame and never goes through JSON.parse.
 */
import type { Histogram } from 'hdr-histogram-js';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { encodeHistogram, newHistogram } from './lib/histogram';
import { runHttpLoad, runPgLoad } from './lib/ops-load';
import { runFailover } from './lib/failover-load';
import { runPresence } from './lib/presence-load';
import {
  ClientSpec,
  LoadParams,
  MARK,
  nowMs,
  OpenParams,
  PROBE_TAG,
  ProtocolConfig,
  TagStats,
  WorkerRequest,
  WorkerResponse,
  WorkerStatus,
} from './lib/protocol';

const MARK_BYTES = Buffer.from(MARK);
const COLON = 0x3a;
const PROBE_CHAR = 0x70; // 'p'
const OPEN_CONCURRENCY = 256;
const OPEN_TIMEOUT_MS = 30_000;
const SEND_TICK_MS = 5;
/** Realistic message length: the marker plus ordinary text. */
const FILLER = ' Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.';

interface Received {
  received: number;
  maxUs: number;
  histogram?: Histogram;
}
interface Sent {
  sent: number;
  sendErrors: number;
  expected: number;
}

const received = new Map<number, Received>();
const sentByTag = new Map<number, Sent>();
const errors: string[] = [];
let totalReceived = 0;
let inboxEvents = 0;
/** How every inbox frame starts (its subscription's id is `i`): told apart from deliveries without parsing. */
const INBOX_FRAME = Buffer.from('{"id":"i"');
let totalSent = 0;
let probed = 0;
let closedUnexpectedly = 0;
let closing = false;

function noteError(message: string): void {
  if (errors.length < 20) errors.push(message);
}

function sentFor(tag: number): Sent {
  let entry = sentByTag.get(tag);
  if (!entry) sentByTag.set(tag, (entry = { sent: 0, sendErrors: 0, expected: 0 }));
  return entry;
}

/** One delivery: `data` holds the marker at `at`. */
function delivered(client: LoadClient, data: Buffer, at: number): void {
  let i = at + MARK_BYTES.length;
  if (data[i] === PROBE_CHAR) {
    if (!client.probed) {
      client.probed = true;
      probed++;
    }
    return;
  }
  let tag = 0;
  for (; data[i] !== COLON; i++) tag = tag * 10 + data[i] - 48;
  const end = data.indexOf(MARK_BYTES, ++i);
  const latencyUs = Math.max(1, Math.round((nowMs() - Number(data.toString('latin1', i, end))) * 1000));
  let entry = received.get(tag);
  if (!entry) received.set(tag, (entry = { received: 0, maxUs: 0, histogram: newHistogram() }));
  entry.received++;
  totalReceived++;
  if (latencyUs > entry.maxUs) entry.maxUs = latencyUs;
  entry.histogram!.recordValue(latencyUs);
}

function content(tag: number): string {
  return `${MARK}${tag === PROBE_TAG ? 'p' : tag}:${nowMs().toFixed(3)}${MARK}${FILLER}`;
}

/** A socket of one client, whatever the wire protocol. */
abstract class LoadClient {
  probed = false;
  protected socket!: WebSocket;
  private sends = 0;
  readonly ready: Promise<void>;
  protected resolveReady!: () => void;
  protected rejectReady!: (error: Error) => void;
  private isReady = false;

  constructor(
    readonly spec: ClientSpec,
    protected readonly protocol: ProtocolConfig,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = () => {
        this.isReady = true;
        resolve();
      };
      this.rejectReady = reject;
    });
  }

  connect(): void {
    this.socket = new WebSocket(this.url(), this.subprotocol(), { perMessageDeflate: false });
    this.socket.on('open', () => this.opened());
    this.socket.on('message', (data: Buffer) => {
      if (this.spec.inbox && data.subarray(0, INBOX_FRAME.length).equals(INBOX_FRAME)) {
        inboxEvents++;
        return;
      }
      const at = data.indexOf(MARK_BYTES);
      if (at >= 0) delivered(this, data, at);
      else this.control(data);
    });
    this.socket.on('error', (error) => {
      if (!this.isReady) this.rejectReady(error);
      else noteError(`socket error: ${error.message}`);
    });
    this.socket.on('close', (code, reason) => {
      if (!this.isReady) this.rejectReady(new Error(`closed before ready: ${code} ${String(reason)}`));
      else if (!closing) {
        closedUnexpectedly++;
        noteError(`socket closed by the server: ${code} ${String(reason)}`);
      }
    });
  }

  /** Sends one message to this client's room; its content carries the tag and the send time. */
  send(tag: number): void {
    const entry = sentFor(tag);
    entry.sent++;
    entry.expected += this.spec.roomSubscribers;
    totalSent++;
    this.socket.send(this.encodeSend(tag, content(tag), this.sends++));
  }

  terminate(): void {
    this.socket?.terminate();
  }

  protected url(): string {
    return this.spec.url;
  }
  protected subprotocol(): string | undefined {
    return undefined;
  }
  protected abstract opened(): void;
  protected abstract control(data: Buffer): void;
  protected abstract encodeSend(tag: number, text: string, n: number): string;

  /** What the baselines carry: the same fields our app's subscribers select, built by the sender. */
  protected messageObject(text: string, n: number): Record<string, unknown> {
    return {
      id: randomUUID(),
      seq: n + 1,
      content: text,
      createdAt: new Date().toISOString(),
      user: { id: this.spec.userId, firstName: this.spec.firstName },
    };
  }

  protected sendError(tag: number, message: string): void {
    const entry = sentFor(tag);
    entry.sendErrors++;
    entry.expected -= this.spec.roomSubscribers;
    noteError(`send failed: ${message}`);
  }
}

/** graphql-transport-ws, hand-rolled: connection_init, subscribe, pong; mutations over the same socket. */
class GraphqlWsClient extends LoadClient {
  protected subprotocol(): string {
    return 'graphql-transport-ws';
  }

  protected opened(): void {
    const payload = this.spec.token ? { authorization: `Bearer ${this.spec.token}` } : {};
    this.socket.send(JSON.stringify({ type: 'connection_init', payload }));
  }

  protected control(data: Buffer): void {
    const message = JSON.parse(data.toString()) as {
      type: string;
      id?: string;
      payload?: { errors?: { message: string }[] } | { message: string }[];
    };
    switch (message.type) {
      case 'connection_ack':
        if (this.spec.subscribe) {
          this.socket.send(
            JSON.stringify({
              id: 'm',
              type: 'subscribe',
              payload: {
                query: this.spec.subscribeQuery ?? this.protocol.subscribeQuery,
                variables: { room: this.spec.room },
              },
            }),
          );
        }
        if (this.spec.inbox) {
          this.socket.send(
            JSON.stringify({ id: 'i', type: 'subscribe', payload: { query: this.protocol.inboxQuery } }),
          );
        }
        this.resolveReady();
        return;
      case 'ping':
        this.socket.send('{"type":"pong"}');
        return;
      case 'next': {
        const errs = !Array.isArray(message.payload) ? message.payload?.errors : undefined;
        if (errs?.length) this.failed(message.id, errs[0].message);
        return;
      }
      case 'error': {
        const errs = Array.isArray(message.payload) ? message.payload : [];
        this.failed(message.id, errs[0]?.message ?? 'error');
        return;
      }
      case 'complete':
        if (message.id === 'm' && !closing) noteError('subscription completed by the server');
        return;
    }
  }

  private failed(id: string | undefined, text: string): void {
    if (id?.startsWith('s')) this.sendError(Number(id.slice(1, id.indexOf('_'))), text);
    else noteError(`subscription ${id}: ${text}`);
  }

  protected encodeSend(tag: number, text: string, n: number): string {
    return JSON.stringify({
      id: `s${tag}_${n}`,
      type: 'subscribe',
      payload: { query: this.protocol.sendQuery, variables: { room: this.spec.room, content: text } },
    });
  }
}

/** The ws relay baseline: `J<room>` joins, `S<room> <payload>` sends, and the server forwards payloads verbatim. */
class RelayClient extends LoadClient {
  protected opened(): void {
    if (this.spec.subscribe) this.socket.send(`J${this.spec.room}`);
    this.resolveReady();
  }

  protected control(): void {}

  protected encodeSend(_tag: number, text: string, n: number): string {
    return `S${this.spec.room} ${JSON.stringify(this.messageObject(text, n))}`;
  }
}

/** Engine.IO 4 / Socket.IO 5 over a WebSocket, hand-rolled as the graphql-ws client is, so both cost the same. */
class SocketIoClient extends LoadClient {
  protected url(): string {
    return `${this.spec.url.replace(/\/$/, '')}/socket.io/?EIO=4&transport=websocket`;
  }

  protected opened(): void {}

  protected control(data: Buffer): void {
    const text = data.toString();
    if (text === '2') this.socket.send('3');
    else if (text.startsWith('0')) this.socket.send('40');
    else if (text.startsWith('40')) {
      if (this.spec.subscribe) this.socket.send(`42${JSON.stringify(['join', this.spec.room])}`);
      this.resolveReady();
    } else if (text.startsWith('44')) noteError(`socket.io connect error: ${text}`);
  }

  protected encodeSend(_tag: number, text: string, n: number): string {
    return `42${JSON.stringify(['send', this.spec.room, this.messageObject(text, n)])}`;
  }
}

let clients: LoadClient[] = [];
let failedOpens = 0;

async function open({ protocol, clients: specs }: OpenParams): Promise<WorkerStatus> {
  const make = (spec: ClientSpec): LoadClient =>
    protocol.wire === 'graphql-ws'
      ? new GraphqlWsClient(spec, protocol)
      : protocol.wire === 'relay'
        ? new RelayClient(spec, protocol)
        : new SocketIoClient(spec, protocol);
  let next = 0;
  const openOne = async (): Promise<void> => {
    while (next < specs.length) {
      const client = make(specs[next++]);
      client.connect();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          client.ready,
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('open timed out')), OPEN_TIMEOUT_MS))),
        ]);
        clients.push(client);
      } catch (error) {
        failedOpens++;
        noteError(`open failed: ${(error as Error).message}`);
        client.terminate();
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, specs.length) }, openOne));
  return status();
}

function senders(): LoadClient[] {
  return clients.filter((c) => c.spec.sender);
}

/** Sends `perSenderRate` messages per second from every sender for `durationMs`, spread evenly in time. */
async function load({ tag, perSenderRate, durationMs }: LoadParams): Promise<{ sent: number; elapsedMs: number }> {
  const from = senders();
  if (!from.length) return { sent: 0, elapsedMs: 0 };
  const total = Math.round((perSenderRate * from.length * durationMs) / 1000);
  const perMs = total / durationMs;
  const started = performance.now();
  let sent = 0;
  let cursor = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - started;
      const due = Math.min(total, Math.floor(elapsed * perMs) + 1);
      for (; sent < due; sent++) from[cursor++ % from.length].send(tag);
      if (sent >= total) resolve();
      else setTimeout(tick, SEND_TICK_MS);
    };
    tick();
  });
  return { sent, elapsedMs: performance.now() - started };
}

function probe(): { sent: number } {
  const from = senders();
  for (const client of from) client.send(PROBE_TAG);
  return { sent: from.length };
}

function status(): WorkerStatus {
  return {
    open: clients.length,
    failed: failedOpens,
    closed: closedUnexpectedly,
    probed,
    received: totalReceived,
    inboxEvents,
    sent: totalSent,
    errors: errors.slice(),
  };
}

function stats(tags: number[]): Record<number, TagStats> {
  const result: Record<number, TagStats> = {};
  for (const tag of tags) {
    const got = received.get(tag);
    const sent = sentByTag.get(tag);
    result[tag] = {
      sent: sent?.sent ?? 0,
      sendErrors: sent?.sendErrors ?? 0,
      expected: sent?.expected ?? 0,
      received: got?.received ?? 0,
      maxUs: got?.maxUs ?? 0,
      histogram: got?.histogram ? encodeHistogram(got.histogram) : '',
    };
  }
  return result;
}

async function handle(request: WorkerRequest): Promise<unknown> {
  switch (request.method) {
    case 'open':
      return open(request.params);
    case 'probe':
      return probe();
    case 'status':
      return status();
    case 'load':
      return load(request.params);
    case 'stats':
      return stats(request.params.tags);
    case 'close':
      closing = true;
      for (const client of clients) client.terminate();
      clients = [];
      return true;
    case 'httpLoad':
      return runHttpLoad(request.params);
    case 'pgLoad':
      return runPgLoad(request.params);
    case 'presence':
      return runPresence(request.params, (line) => reply({ progress: line }));
    case 'failover':
      return runFailover(request.params, (line) => reply({ progress: line }));
  }
}

function reply(message: WorkerResponse): void {
  process.send!(message);
}

process.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (result) => reply({ id: request.id, result }),
    (error: unknown) => reply({ id: request.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
