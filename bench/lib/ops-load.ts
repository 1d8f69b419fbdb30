/**
 * S5's two closed loops at a fixed concurrency: `sendMessage` over HTTP against the app, and a raw single-row
 * INSERT into PostgreSQL, so the app's write path is compared with the database's own ceiling.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
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

export async function runHttpLoad(params: HttpLoadParams): Promise<OpsResult> {
  const url = new URL(params.url);
  const agent = new Agent({ keepAlive: true, maxSockets: params.concurrency });
  const post = (token: string, body: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${token}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    return await closedLoops(params.concurrency, params.durationMs, async (loop, n) => {
      const body = JSON.stringify({
        query: SEND_MUTATION,
        variables: { input: { chatId: params.rooms[loop % params.rooms.length], content: `${n} ${TEXT}` } },
      });
      const text = await post(params.tokens[loop % params.tokens.length], body);
      if (!text.includes('"sendMessage"')) throw new Error(text.slice(0, 200));
    });
  } finally {
    agent.destroy();
  }
}

export async function runPgLoad(params: PgLoadParams): Promise<OpsResult> {
  const pool = new Pool({ connectionString: params.databaseUrl, max: params.concurrency });
  try {
    await pool.query(RAW_TABLE_SQL);
    const chats = Array.from({ length: params.concurrency }, () => randomUUID());
    const user = randomUUID();
    return await closedLoops(params.concurrency, params.durationMs, async (loop, n) => {
      await pool.query('INSERT INTO bench_raw_messages (chat_id, seq, user_id, content) VALUES ($1, $2, $3, $4)', [
        chats[loop],
        n + 1,
        user,
        `${n} ${TEXT}`,
      ]);
    });
  } finally {
    await pool.end();
  }
}
