/**
 * What the orchestrator (run.ts) and the load-generator workers (worker.ts) say to each other over the fork IPC
 * channel, and the wire conventions every target shares.
 */

/** How a client talks to a target. */
export type WireProtocol = 'graphql-ws' | 'relay' | 'socketio';

export interface ProtocolConfig {
  wire: WireProtocol;
  /** graphql-ws: the subscription, with one variable `$room`. */
  subscribeQuery?: string;
  /** graphql-ws: the mutation that sends, with variables `$room` and `$content`. */
  sendQuery?: string;
  /** graphql-ws: the chat-list subscription a client holds beside its room's (S2i). */
  inboxQuery?: string;
}

/** One socket the worker opens. */
export interface ClientSpec {
  /** ws:// URL of the instance this client connects to. */
  url: string;
  /** The room (chat id for the app, a name for the baselines). */
  room: string;
  /** Bearer token for the app; baselines need none. */
  token?: string;
  userId: string;
  firstName: string;
  /** Subscribes to its room's messages. */
  subscribe: boolean;
  /** Also holds an inbox subscription (S2i). */
  inbox?: boolean;
  /** Its own selection for the room's messages instead of the target's (S2m). */
  subscribeQuery?: string;
  /** Sends its room's load; the orchestrator picks one sender per room. */
  sender: boolean;
  /** Subscribers of this client's room across every worker, to count what must arrive per message it sends. */
  roomSubscribers: number;
}

/**
 * A message's content starts with `@@<tag>:<sentAtMs>@@`: the tag says which step or message it belongs to
 * (`p` for readiness probes) and the send time travels with it, so a receiver finds both with one indexOf on the
 * raw frame, without parsing JSON. Times are performance.timeOrigin + performance.now() in ms with fractions,
 * comparable across processes on one machine.
 */
export const MARK = '@@';
export const PROBE_TAG = -1;

export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface TagStats {
  sent: number;
  sendErrors: number;
  /** Deliveries this worker's messages of the tag must cause across all workers. */
  expected: number;
  received: number;
  maxUs: number;
  /** HDR histogram of publish-to-deliver latency in µs, compressed base64 (hdr-histogram-js). */
  histogram: string;
}

export interface WorkerStatus {
  open: number;
  failed: number;
  closed: number;
  probed: number;
  received: number;
  /** Inbox events received (S2i), not counted as deliveries. */
  inboxEvents: number;
  sent: number;
  errors: string[];
}

export interface OpenParams {
  protocol: ProtocolConfig;
  clients: ClientSpec[];
}

export interface LoadParams {
  tag: number;
  /** Messages per second each sender sends. */
  perSenderRate: number;
  durationMs: number;
}

export interface HttpLoadParams {
  url: string;
  tokens: string[];
  rooms: string[];
  concurrency: number;
  durationMs: number;
}

export interface PgLoadParams {
  databaseUrl: string;
  concurrency: number;
  durationMs: number;
  /**
   * Each loop's row waits for one writer that inserts every row waiting, in one statement, after the previous
   * statement is done: what a group commit does, with nothing else around it (the ceiling for the app's sends).
   */
  batched?: boolean;
}

export interface OpsResult {
  ok: number;
  errors: number;
  elapsedMs: number;
  histogram: string;
  errorSamples: string[];
}

export interface PresenceParams {
  /** graphql-ws URL of each instance; one watcher per instance, joiners spread over them. */
  urls: string[];
  room: string;
  watcherToken: string;
  joinerTokens: string[];
  /** Presence changes per second (joins + leaves), one step each. */
  rates: number[];
  stepMs: number;
  holdMs: number;
  /** Wait after the last leave for stragglers. */
  drainMs: number;
}

export interface PresenceStepResult {
  rate: number;
  joins: number;
  leaves: number;
  /** Changes every watcher saw, out of joins + leaves. */
  converged: number;
  /** The watchers' replicas agreed with each other and with the joiners once the step drained. */
  replicasAgree: boolean;
  histogram: string;
  errors: string[];
}

export interface FailoverParams {
  /** The balancer, in front of the instances. */
  wsUrl: string;
  httpUrl: string;
  clients: { room: string; token: string }[];
  /** One per room. */
  senders: { room: string; token: string }[];
  messagesPerSecondPerRoom: number;
  beforeKillMs: number;
  /** How long after the kill to keep sending and watch clients come back. */
  afterKillMs: number;
  /** How long to wait, once sending stopped, for the last messages to arrive. */
  drainMs: number;
  /** The instance to kill with SIGKILL. */
  victimPid: number;
}

export interface FailoverResult {
  clients: number;
  /** Clients whose socket the kill closed. */
  dropped: number;
  reconnects: number;
  /** The last dropped client's socket accepted again, in ms after the kill. */
  lastReconnectedMs: number;
  /** The last client holding every message committed before the kill (reconnected, if it was dropped). */
  lastWholeMs: number;
  notWhole: number;
  /** Messages committed in all, by the rooms' lastSeq at the end. */
  messages: number;
  /** Clients without every committed message at the end. */
  incomplete: number;
  gaps: number;
  duplicates: number;
  sendFailures: number;
  errors: string[];
}

export type WorkerRequest =
  | { id: number; method: 'open'; params: OpenParams }
  | { id: number; method: 'probe' }
  | { id: number; method: 'status' }
  | { id: number; method: 'load'; params: LoadParams }
  | { id: number; method: 'stats'; params: { tags: number[] } }
  | { id: number; method: 'close' }
  | { id: number; method: 'httpLoad'; params: HttpLoadParams }
  | { id: number; method: 'pgLoad'; params: PgLoadParams }
  | { id: number; method: 'presence'; params: PresenceParams }
  | { id: number; method: 'failover'; params: FailoverParams };

export type WorkerResponse = { id: number; result?: unknown; error?: string } | { progress: string };
