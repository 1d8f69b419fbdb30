/**
 * S5's two closed loops at a fixed concurrency: `sendMessage` over HTTP against the app, and a raw single-row
 * INSERT into PostgreSQL, so the app's write path is compared with the database's own ceiling.
 */
import { randomUUID } from 'node:crypto';
import { connect, Socket } from 'node:net';
import { Pool } from 'pg';
import { encodeHistogram, newHistogram } from './histogram';
import { HttpLoadParams, nowMs, OpsResult, PgLoadParams } from './protocol';

const SEND_MUTATION = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }';
const TEXT = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.';

/** Like the app's messages table (same columns, unique keys and index), without foreign keys. */
export const RAW_TABLE_SQL = `
  CREATE TABLE IF NOT EXISTS bench_raw_messages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chat_id uuid NOT NULL,
    seq integer NOT NULL,
    user_id uuid NOT NULL,
    content text NOT NULL,
    client_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, seq),
    UNIQUE (chat_id, user_id, client_id)
  );
  CREATE INDEX IF NOT EXISTS bench_raw_messages_user_idx ON bench_raw_messages (user_id);`;

async function closedLoops(
  concurrency: number,
  durationMs: number,
  op: (loop: number, n: number) => Promise<void>,
): Promise<OpsResult> {
  const histogram = newHistogram();
  const errorSamples: string[] = [];
  let ok = 0;
  let errors = 0;
  const started = nowMs();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      for (let n = 0; nowMs() < deadline; n++) {
        const t0 = nowMs();
        try {
          await op(loop, n);
          ok++;
          histogram.recordValue(Math.max(1, Math.round((nowMs() - t0) * 1000)));
        } catch (error) {
          errors++;
          if (errorSamples.length < 5) errorSamples.push(error instanceof Error ? error.message : String(error));
        }
      }
    }),
  );
  return { ok, errors, elapsedMs: nowMs() - started, histogram: encodeHistogram(histogram), errorSamples };
}

/**
 * One keep-alive HTTP/1.1 connection with one request in flight, written as a single buffer and read by its
 * Content-Length, like wrk. Node's http client costs this process about three times the CPU per request that
 * the pg client costs the raw INSERT loop, and on two shared cores the generator's CPU is taken from the server
 * under test, so a heavy client would lower the app's side of the ratio only.
 */
class KeepAliveConnection {
  private socket?: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private pending?: { resolve: (response: { status: number; body: string }) => void; reject: (error: Error) => void };
  /** The request line and every header but the length: the same for each request this loop sends. */
  private readonly head: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    path: string,
    headers: Record<string, string>,
  ) {
    const lines = Object.entries({ host: `${host}:${port}`, ...headers }).map(
      ([name, value]) => `${name}: ${value}\r\n`,
    );
    this.head = `POST ${path} HTTP/1.1\r\n${lines.join('')}`;
  }

  post(body: string): Promise<{ status: number; body: string }> {
    if (this.pending) return Promise.reject(new Error('a request is already in flight on this connection'));
    const socket = this.socket ?? this.connect();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(`${this.head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.buffered = Buffer.alloc(0);
    socket?.destroy();
  }

  private connect(): Socket {
    const socket = connect(this.port, this.host);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    const lost = (error?: Error) => {
      // A connection already closed from this side (and maybe replaced) has nothing left to settle.
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.buffered = Buffer.alloc(0);
      this.settle(undefined, error ?? new Error('the server closed the connection'));
    };
    socket.on('error', lost);
    socket.on('close', () => lost());
    return (this.socket = socket);
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const headEnd = this.buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.settle(undefined, new Error(`response without content-length: ${head.slice(0, 200)}`));
      this.close();
      return;
    }
    const end = headEnd + 4 + Number(length[1]);
    if (this.buffered.length < end) return;
    const body = this.buffered.toString('utf8', headEnd + 4, end);
    this.buffered = this.buffered.subarray(end);
    this.settle({ status: Number(head.slice(9, 12)), body });
    if (/\r\nconnection:\s*close/i.test(head)) this.close();
  }

  private settle(response?: { status: number; body: string }, error?: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    if (response) pending.resolve(response);
    else pending.reject(error ?? new Error('no response'));
  }
}

export async function runHttpLoad(params: HttpLoadParams): Promise<OpsResult> {
  const url = new URL(params.url);
  const connections = Array.from(
    { length: params.concurrency },
    (_, loop) =>
      new KeepAliveConnection(url.hostname, Number(url.port), url.pathname, {
        'content-type': 'application/json',
        authorization: `Bearer ${params.tokens[loop % params.tokens.length]}`,
      }),
  );
  try {
    return await closedLoops(params.concurrency, params.durationMs, async (loop, n) => {
      const body = JSON.stringify({
        query: SEND_MUTATION,
        variables: { input: { chatId: params.rooms[loop % params.rooms.length], content: `${n} ${TEXT}` } },
      });
      const response = await connections[loop].post(body);
      if (response.status !== 200 || !response.body.includes('"sendMessage"')) {
        throw new Error(`${response.status} ${response.body.slice(0, 200)}`);
      }
    });
  } finally {
    connections.forEach((connection) => connection.close());
  }
}

export async function runPgLoad(params: PgLoadParams): Promise<OpsResult> {
  const pool = new Pool({ connectionString: params.databaseUrl, max: params.concurrency });
  try {
    await pool.query(RAW_TABLE_SQL);
    const chats = Array.from({ length: params.concurrency }, () => randomUUID());
    const user = randomUUID();
    const batcher = params.batched ? new RawBatcher(pool) : null;
    return await closedLoops(params.concurrency, params.durationMs, async (loop, n) => {
      const row: RawRow = [chats[loop], n + 1, user, `${n} ${TEXT}`];
      if (batcher) await batcher.insert(row);
      else
        await pool.query(
          'INSERT INTO bench_raw_messages (chat_id, seq, user_id, content) VALUES ($1, $2, $3, $4)',
          row,
        );
    });
  } finally {
    await pool.end();
  }
}

type RawRow = [chatId: string, seq: number, userId: string, content: string];

/** One statement in flight at a time, carrying every row that arrived while the previous one ran. */
class RawBatcher {
  private waiting: { row: RawRow; done: (error?: Error) => void }[] = [];
  private writing = false;

  constructor(private readonly pool: Pool) {}

  insert(row: RawRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ row, done: (error) => (error ? reject(error) : resolve()) });
      if (!this.writing) void this.write();
    });
  }

  private async write(): Promise<void> {
    this.writing = true;
    while (this.waiting.length) {
      const batch = this.waiting.splice(0);
      const column = (i: number) => batch.map(({ row }) => row[i]);
      try {
        await this.pool.query(
          `INSERT INTO bench_raw_messages (chat_id, seq, user_id, content)
           SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::text[])`,
          [column(0), column(1), column(2), column(3)],
        );
        for (const { done } of batch) done();
      } catch (error) {
        for (const { done } of batch) done(error as Error);
      }
    }
    this.writing = false;
  }
}
