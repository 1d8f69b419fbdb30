/**
 * P7: subscribed clients whose instance dies. Every client holds `messageAdded(chatId, afterSeq)` through the
 * balancer and, like the chat page, reconnects when its socket closes and resumes after the last seq it saw.
 * Senders keep every room busy over HTTP; then one instance is killed with SIGKILL. Each client checks every
 * delivery against the last seq it saw (a repeat is a duplicate, a jump a loss). This runs in one worker
 * process, so every timestamp comes from one clock.
 */
import WebSocket from 'ws';
import { FailoverParams, FailoverResult, nowMs } from './protocol';

const SUBSCRIBE = 'subscription($c: ID!, $a: Int) { messageAdded(chatId: $c, afterSeq: $a) { seq } }';
const SEND = 'mutation($c: ID!, $t: String!) { sendMessage(input: { chatId: $c, content: $t }) { seq } }';
const OPEN_CONCURRENCY = 200;
const PROGRESS_EVERY_MS = 1000;

interface NextMessage {
  type: string;
  payload?: { data?: { messageAdded?: { seq: number } }; errors?: { message: string }[] };
}

class ResumingClient {
  lastSeq = 0;
  duplicates = 0;
  gaps = 0;
  reconnects = 0;
  /** Whether the kill closed this client's socket. */
  dropped = false;
  /** After the kill: when its socket was accepted again, and when it had everything committed before the kill. */
  reconnectedAt = 0;
  wholeAt = 0;
  private socket?: WebSocket;
  private stopped = false;
  private live!: () => void;
  readonly ready = new Promise<void>((resolve) => (this.live = resolve));

  constructor(
    private readonly params: FailoverParams,
    readonly room: string,
    private readonly token: string,
    private readonly run: { killedAt: number; seqAtKill: Map<string, number>; note: (error: string) => void },
  ) {}

  connect(): void {
    const socket = new WebSocket(this.params.wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
    this.socket = socket;
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } })),
    );
    socket.on('message', (data: Buffer) => this.onMessage(JSON.parse(data.toString()) as NextMessage));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => {
      if (this.stopped) return;
      if (this.run.killedAt && !this.dropped) this.dropped = true;
      this.reconnects++;
      // Spread over half a second, as clients with a randomised back-off do.
      setTimeout(() => this.connect(), 100 + Math.random() * 400);
    });
  }

  private onMessage(message: NextMessage): void {
    switch (message.type) {
      case 'connection_ack':
        if (this.run.killedAt && this.dropped && !this.reconnectedAt) this.reconnectedAt = nowMs();
        this.socket!.send(
          JSON.stringify({
            id: 'm',
            type: 'subscribe',
            payload: { query: SUBSCRIBE, variables: { c: this.room, a: this.lastSeq } },
          }),
        );
        this.live();
        return;
      case 'ping':
        this.socket!.send('{"type":"pong"}');
        return;
      case 'next': {
        const seq = message.payload?.data?.messageAdded?.seq;
        if (seq === undefined) {
          this.run.note(`next without a message: ${JSON.stringify(message.payload).slice(0, 200)}`);
          return;
        }
        if (seq <= this.lastSeq) this.duplicates++;
        else {
          if (seq !== this.lastSeq + 1) this.gaps++;
          this.lastSeq = seq;
        }
        this.checkWhole();
        return;
      }
      case 'error':
        this.run.note(`subscription error: ${JSON.stringify(message.payload).slice(0, 200)}`);
        return;
    }
  }

  /**
   * Whole, checked at each delivery after the kill (so a client whose socket is about to close is not counted
   * before it knows): reconnected if the kill dropped it, and holding every message committed before the kill.
   */
  private checkWhole(): void {
    if (this.wholeAt || !this.run.killedAt) return;
    if (this.dropped && !this.reconnectedAt) return;
    if (this.lastSeq >= (this.run.seqAtKill.get(this.room) ?? 0)) this.wholeAt = nowMs();
  }

  stop(): void {
    this.stopped = true;
    this.socket?.terminate();
  }
}

async function post<T>(url: string, query: string, variables: Record<string, unknown>, token: string): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let body: { data?: T; errors?: { message: string }[] } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // an error page of the balancer's: reported below
  }
  if (!body.data)
    throw new Error(`${response.status} ${(body.errors ? JSON.stringify(body.errors) : text).slice(0, 200)}`);
  return body.data;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runFailover(params: FailoverParams, progress: (line: string) => void): Promise<FailoverResult> {
  const errors: string[] = [];
  const note = (error: string) => {
    if (errors.length < 20) errors.push(error);
  };
  const run = { killedAt: 0, seqAtKill: new Map<string, number>(), note };
  const clients = params.clients.map((c) => new ResumingClient(params, c.room, c.token, run));
  for (let i = 0; i < clients.length; i += OPEN_CONCURRENCY) {
    const batch = clients.slice(i, i + OPEN_CONCURRENCY);
    batch.forEach((client) => client.connect());
    await Promise.all(batch.map((client) => client.ready));
    progress(`P7: ${Math.min(i + OPEN_CONCURRENCY, clients.length)}/${clients.length} clients subscribed`);
  }

  // Each room's sender sends at its rate; what it learns of committed seqs feeds seqAtKill.
  const committed = new Map<string, number>();
  let sendFailures = 0;
  let sending = true;
  const senders = params.senders.map(async ({ room, token }, i) => {
    await sleep((i / params.senders.length) * (1000 / params.messagesPerSecondPerRoom));
    for (let n = 0; sending; n++) {
      const started = nowMs();
      try {
        const { sendMessage } = await post<{ sendMessage: { seq: number } }>(
          params.httpUrl,
          SEND,
          { c: room, t: `p7 ${n}` },
          token,
        );
        committed.set(room, Math.max(committed.get(room) ?? 0, sendMessage.seq));
      } catch {
        sendFailures++; // a send in flight on the killed instance: it may or may not have committed
      }
      await sleep(Math.max(0, 1000 / params.messagesPerSecondPerRoom - (nowMs() - started)));
    }
  });

  await sleep(params.beforeKillMs);
  for (const [room, seq] of committed) run.seqAtKill.set(room, seq);
  process.kill(params.victimPid, 'SIGKILL');
  run.killedAt = nowMs();
  const deadline = run.killedAt + params.afterKillMs;
  while (nowMs() < deadline) {
    await sleep(PROGRESS_EVERY_MS);
    const whole = clients.filter((c) => c.wholeAt).length;
    progress(`P7: ${whole}/${clients.length} whole ${Math.round(nowMs() - run.killedAt)} ms after the kill`);
  }
  sending = false;
  await Promise.all(senders);

  // Nothing may be missing once the last messages have had time to arrive: compare with what was committed.
  const lastSeq = new Map<string, number>();
  for (const { room, token } of params.senders) {
    // A query that nginx sent on a kept-alive connection to the dead instance comes back 502: ask again.
    for (let attempt = 1; ; attempt++) {
      try {
        const data = await post<{ chat: { lastSeq: number } }>(
          params.httpUrl,
          'query($c: ID!) { chat(id: $c) { lastSeq } }',
          { c: room },
          token,
        );
        lastSeq.set(room, data.chat.lastSeq);
        break;
      } catch (error) {
        if (attempt === 5) throw error;
        await sleep(200);
      }
    }
  }
  const drainDeadline = nowMs() + params.drainMs;
  while (nowMs() < drainDeadline && clients.some((c) => c.lastSeq < lastSeq.get(c.room)!)) await sleep(100);
  for (const client of clients) client.stop();

  const dropped = clients.filter((c) => c.dropped);
  const after = (at: number) => (at ? at - run.killedAt : Infinity);
  const worst = (values: number[]) => values.reduce((max, v) => Math.max(max, v), 0);
  return {
    clients: clients.length,
    dropped: dropped.length,
    reconnects: clients.reduce((sum, c) => sum + c.reconnects, 0),
    lastReconnectedMs: worst(dropped.map((c) => after(c.reconnectedAt))),
    lastWholeMs: worst(clients.map((c) => after(c.wholeAt))),
    notWhole: clients.filter((c) => !c.wholeAt).length,
    messages: [...lastSeq.values()].reduce((sum, seq) => sum + seq, 0),
    incomplete: clients.filter((c) => c.lastSeq !== lastSeq.get(c.room)).length,
    gaps: clients.reduce((sum, c) => sum + c.gaps, 0),
    duplicates: clients.reduce((sum, c) => sum + c.duplicates, 0),
    sendFailures,
    errors,
  };
}
