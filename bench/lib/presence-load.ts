/**
 * S6: presence churn across instances. Joiners subscribe `presence(track: true)` and complete after a hold
 * time; one watcher per instance (`track: false`) applies STATE and DIFFs to its own replica. A change has
 * converged when the watcher of every instance has seen it; its latency runs from the joiner's subscribe (or
 * complete) to that moment. Watchers and joiners live in this one process, so their clocks are one clock.
 */
import WebSocket from 'ws';
import { encodeHistogram, newHistogram } from './histogram';
import { nowMs, PresenceParams, PresenceStepResult } from './protocol';

const WATCH = `subscription($room: ID!) {
  presence(chatId: $room, track: false) { kind presences { metas { ref } } joins { metas { ref } } leaves { metas { ref } } }
}`;
const TRACK = 'subscription($room: ID!) { presence(chatId: $room, track: true) { kind selfRef } }';
const TICK_MS = 5;
const PROGRESS_EVERY_MS = 1000;

interface PresenceEvent {
  kind: 'STATE' | 'DIFF';
  selfRef?: string | null;
  presences?: { metas: { ref: string }[] }[];
  joins?: { metas: { ref: string }[] }[];
  leaves?: { metas: { ref: string }[] }[];
}
interface ServerMessage {
  type: string;
  id?: string;
  payload?: { data?: { presence?: PresenceEvent }; errors?: { message: string }[] } | { message: string }[];
}

/** A minimal graphql-transport-ws client that parses every message (presence rates are low). */
class PresenceSocket {
  private readonly socket: WebSocket;
  private readonly handlers = new Map<string, (message: ServerMessage) => void>();
  readonly ready: Promise<void>;

  constructor(url: string, token: string, onError: (message: string) => void) {
    this.socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.once('close', (code) => reject(new Error(`closed ${code}`)));
      this.socket.on('open', () =>
        this.socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
      );
      this.socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as ServerMessage;
        if (message.type === 'connection_ack') resolve();
        else if (message.type === 'ping') this.socket.send('{"type":"pong"}');
        else if (message.id) this.handlers.get(message.id)?.(message);
        if (message.type === 'error') onError(`presence ${message.id}: ${JSON.stringify(message.payload)}`);
      });
    });
  }

  subscribe(id: string, query: string, room: string, onEvent: (event: PresenceEvent, at: number) => void): void {
    this.handlers.set(id, (message) => {
      const at = nowMs();
      const payload = message.payload;
      if (message.type === 'next' && payload && !Array.isArray(payload) && payload.data?.presence) {
        onEvent(payload.data.presence, at);
      }
    });
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables: { room } } }));
  }

  complete(id: string): void {
    this.handlers.delete(id);
    this.socket.send(JSON.stringify({ id, type: 'complete' }));
  }

  close(): void {
    this.socket.terminate();
  }
}

/** What one instance's watcher has seen: its replica and, per ref, when the join and the leave arrived. */
class Watcher {
  readonly refs = new Set<string>();
  readonly joinedAt = new Map<string, number>();
  readonly leftAt = new Map<string, number>();

  apply(event: PresenceEvent, at: number): void {
    const refsOf = (list?: { metas: { ref: string }[] }[]) => (list ?? []).flatMap((p) => p.metas.map((m) => m.ref));
    if (event.kind === 'STATE') {
      this.refs.clear();
      for (const ref of refsOf(event.presences)) this.refs.add(ref);
      return;
    }
    // Joins before leaves, as Phoenix clients apply them.
    for (const ref of refsOf(event.joins)) {
      this.refs.add(ref);
      if (!this.joinedAt.has(ref)) this.joinedAt.set(ref, at);
    }
    for (const ref of refsOf(event.leaves)) {
      this.refs.delete(ref);
      if (!this.leftAt.has(ref)) this.leftAt.set(ref, at);
    }
  }
}

interface Change {
  ref?: string;
  joinAt: number;
  leaveAt?: number;
}

export async function runPresence(
  params: PresenceParams,
  progress: (line: string) => void,
): Promise<PresenceStepResult[]> {
  const errors: string[] = [];
  const onError = (message: string) => errors.length < 10 && errors.push(message);
  const watchers = params.urls.map(() => new Watcher());
  const watcherSockets = params.urls.map((url) => new PresenceSocket(url, params.watcherToken, onError));
  const pool = params.joinerTokens.map(
    (token, i) => new PresenceSocket(params.urls[i % params.urls.length], token, onError),
  );
  const sockets = [...watcherSockets, ...pool];
  try {
    await Promise.all(sockets.map((s) => s.ready));
    await Promise.all(
      watcherSockets.map(
        (socket, i) =>
          new Promise<void>((resolve) =>
            socket.subscribe('w', WATCH, params.room, (event, at) => {
              watchers[i].apply(event, at);
              if (event.kind === 'STATE') resolve();
            }),
          ),
      ),
    );
    const results: PresenceStepResult[] = [];
    let serial = 0;
    for (const rate of params.rates) {
      const stepErrors = errors.length;
      const changes: Change[] = [];
      const free = pool.slice();
      const joinsPerMs = rate / 2 / 1000;
      const started = nowMs();
      const total = Math.round(joinsPerMs * params.stepMs);
      let exhausted = 0;
      const join = () => {
        const socket = free.pop();
        if (!socket) return exhausted++;
        const id = `j${serial++}`;
        const change: Change = { joinAt: nowMs() };
        changes.push(change);
        socket.subscribe(id, TRACK, params.room, (event) => {
          if (event.kind === 'STATE' && event.selfRef) change.ref = event.selfRef;
        });
        setTimeout(() => {
          change.leaveAt = nowMs();
          socket.complete(id);
          free.push(socket);
        }, params.holdMs);
      };
      let reported = 0;
      await new Promise<void>((resolve) => {
        let joined = 0;
        const tick = () => {
          const due = Math.min(total, Math.floor((nowMs() - started) * joinsPerMs) + 1);
          for (; joined < due; joined++) join();
          if (nowMs() - reported > PROGRESS_EVERY_MS) {
            reported = nowMs();
            progress(`presence at ${rate} changes/s: ${joined}/${total} joins`);
          }
          if (joined >= total) resolve();
          else setTimeout(tick, TICK_MS);
        };
        tick();
      });
      await new Promise((resolve) => setTimeout(resolve, params.holdMs + params.drainMs));
      const histogram = newHistogram();
      let converged = 0;
      const record = (from: number, seen: (w: Watcher) => number | undefined) => {
        const times = watchers.map(seen);
        if (times.some((t) => t === undefined)) return;
        converged++;
        histogram.recordValue(Math.max(1, Math.round((Math.max(...(times as number[])) - from) * 1000)));
      };
      for (const change of changes) {
        if (!change.ref) continue;
        const ref = change.ref;
        record(change.joinAt, (w) => w.joinedAt.get(ref));
        if (change.leaveAt !== undefined) record(change.leaveAt, (w) => w.leftAt.get(ref));
      }
      const replicas = watchers.map((w) => [...w.refs].sort().join(','));
      if (exhausted) onError(`${exhausted} joins skipped: every pooled socket was busy`);
      results.push({
        rate,
        joins: changes.length,
        leaves: changes.filter((c) => c.leaveAt !== undefined).length,
        converged,
        // Every joiner has left by now, so every replica must be empty.
        replicasAgree: replicas.every((r) => r === ''),
        histogram: encodeHistogram(histogram),
        errors: errors.slice(stepErrors),
      });
    }
    return results;
  } finally {
    for (const socket of sockets) socket.close();
  }
}
