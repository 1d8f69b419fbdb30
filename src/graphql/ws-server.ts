import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import bytes from 'bytes';
import { ExecutionArgs, ExecutionResult, GraphQLError, GraphQLFormattedError } from 'graphql';
import {
  CloseCode,
  Context,
  handleProtocols,
  makeServer,
  SubscribePayload,
  WebSocket as ProtocolSocket,
} from 'graphql-ws';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../logging/log-errors';
import { ConnectionInfo, RequestContext, SLOW_CONSUMER_CLOSE_CODE } from '../common/request-context';
import { MetricsService } from '../metrics/metrics.service';
import { Admission } from './admission';
import { Fastlane, FastlaneTarget } from '../realtime/fastlane';
import { ErrorFormatter } from './format-error';
import { closeSocket, Heartbeat } from '../realtime/heartbeat';
import { RequestContexts } from './request-contexts';
import { UsersService } from '../users/users.service';

/** How long a socket may take to send connection_init (graphql-ws's 4408 after that). */
const CONNECTION_INIT_TIMEOUT_MS = 10_000;
/** graphql-ws's close code for a refused connection, as for an expired token: the client signs in again. */
const ACCOUNT_GONE_CODE = 4403;
/** Users looked up per query when every socket's account is re-checked. */
const RECHECK_BATCH = 1000;

/** What a connection carries for graphql-ws (`ctx.extra`). */
interface ConnectionExtra {
  socket: WebSocket;
  /** The upgrade request; released once the connection is authenticated (see onConnect). */
  request?: IncomingMessage;
  requestContext?: RequestContext;
}
type WsContext = Context<Record<string, unknown> | undefined, ConnectionExtra>;

let nextConnectionId = 1;

/**
 * The WebSocket transport: `ws` speaks WebSocket, graphql-ws's own server (`makeServer`) speaks the
 * graphql-transport-ws protocol, and every operation is admitted (Admission), given its context (RequestContexts)
 * and has its errors formatted (ErrorFormatter) exactly as over HTTP. Subscriptions whose field declares
 * SharedEvents take the fastlane. What is ours here is the glue, and one heartbeat for every socket (liveness and
 * the connection_init deadline) instead of graphql-ws's `useServer` timers per socket, which an idle connection
 * pays for in memory.
 */
@Injectable()
export class GraphqlWsServer implements OnApplicationBootstrap, OnModuleDestroy, Outbox {
  private readonly logger = new Logger(GraphqlWsServer.name);
  private readonly wss: WebSocketServer;
  private readonly heartbeat: Heartbeat<WebSocket>;
  private readonly fastlane: Fastlane;
  /** The user each authenticated socket acts for. */
  private readonly viewerOf = new WeakMap<WebSocket, string>();
  /** Each socket's TCP stream, which fastlane frames cork (see send). */
  private readonly streamOf = new WeakMap<WebSocket, Duplex>();
  /** Sockets corked in this tick, with the bytes their frames have added meanwhile. */
  private readonly corked = new Map<WebSocket, number>();
  private readonly uncork = () => {
    for (const socket of this.corked.keys()) this.streamOf.get(socket)?.uncork();
    this.corked.clear();
  };
  private stopListening?: () => void;
  private httpServer?: HttpServer;
  private goneAway = false;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly schemaHost: GraphQLSchemaHost,
    private readonly admission: Admission,
    private readonly contexts: RequestContexts,
    private readonly users: UsersService,
    private readonly errors: ErrorFormatter,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      // The fastlane hands every subscriber the same encoded bytes; compression would redo them per socket.
      perMessageDeflate: false,
      handleProtocols,
      // A larger message closes the socket with 1009 before any of it is buffered or parsed.
      maxPayload: bytes.parse(config.httpBodyLimit) ?? undefined,
    });
    this.heartbeat = new Heartbeat<WebSocket>(config.ws.keepAliveMs, CONNECTION_INIT_TIMEOUT_MS);
    this.fastlane = new Fastlane(() => metrics.eventEncodings.inc());
  }

  onApplicationBootstrap(): void {
    const protocol = makeServer<Record<string, unknown> | undefined, ConnectionExtra>({
      // The heartbeat enforces the connection_init deadline, with one timer for every socket.
      connectionInitWaitTimeout: 0,
      onConnect: (ctx) => this.onConnect(ctx),
      onSubscribe: (ctx, id, payload) => this.onSubscribe(ctx, id, payload),
      subscribe: this.fastlane.subscribe,
      onNext: (ctx, _id, _payload, _args, result) => {
        // Events on this path wait in their feed's queue (capped there, at the same WS_MAX_QUEUED_EVENTS).
        this.delivered(ctx.extra.socket, 0);
        const errors = this.errors.formatResult(result);
        return errors && { ...result, errors };
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => this.errors.format(error.toJSON(), error)),
      onClose: (ctx) => {
        if (ctx.extra.requestContext) this.metrics.connections.dec();
      },
    });
    const logger = this.logger;
    // Shared by every socket: an emitter calls its listeners with itself as `this`.
    function onSocketError(this: WebSocket, error: Error & { code?: string }): void {
      // ws has already closed it (1009 for a message over maxPayload, 1002 for a protocol error): the peer's doing.
      logger.debug(`socket error: ${error.code ?? error.message}`);
    }
    this.wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      socket.on('error', onSocketError);
      this.heartbeat.watch(socket);
      // Every field it will have, from the start: one added later costs the object a separate property array.
      const extra: ConnectionExtra = { socket, request, requestContext: undefined };
      const closed = protocol.opened(new SocketAdapter(socket, logger), extra);
      socket.on('close', (code: number, reason: Buffer) => {
        this.heartbeat.forget(socket);
        closed(code, reason.toString()).catch((error: unknown) =>
          logger.error(`graphql-ws close handling failed: ${errorMessage(error)}`),
        );
      });
    });
    this.httpServer = this.adapterHost.httpAdapter.getHttpServer() as HttpServer;
    this.httpServer.on('upgrade', this.onUpgrade);
    this.heartbeat.start();
    this.stopListening = this.users.onAccountGone((userId) => void this.closeSocketsOfGoneAccounts(userId));
  }

  /**
   * A deleted account's sockets close as an expired token's do (4403), on every instance at once; when deletions
   * may have gone unheard (userId null), every socket's user is looked up again, a batch of users per query.
   * Deletions are rare, so finding a user's sockets scans them rather than indexing every socket by user.
   */
  private async closeSocketsOfGoneAccounts(userId: string | null): Promise<void> {
    const gone = userId === null ? await this.goneAmongConnectedUsers() : new Set([userId]);
    for (const socket of this.wss.clients) {
      const viewerId = this.viewerOf.get(socket);
      if (viewerId !== undefined && gone.has(viewerId))
        closeSocket(socket, ACCOUNT_GONE_CODE, 'Account no longer exists');
    }
  }

  private async goneAmongConnectedUsers(): Promise<Set<string>> {
    const connected = new Set<string>();
    for (const socket of this.wss.clients) {
      const viewerId = this.viewerOf.get(socket);
      if (viewerId !== undefined) connected.add(viewerId);
    }
    const ids = [...connected];
    const gone = new Set<string>();
    for (let start = 0; start < ids.length; start += RECHECK_BATCH) {
      const batch = ids.slice(start, start + RECHECK_BATCH);
      const existing = await this.users.existingIds(batch).catch((error: Error) => {
        this.logger.warn(`could not re-check accounts: ${error.message}`);
        return new Set(batch);
      });
      for (const id of batch) if (!existing.has(id)) gone.add(id);
    }
    return gone;
  }

  /**
   * Shutdown's first step, before HTTP requests have drained: every socket is told to go elsewhere (1001), so its
   * client reconnects to another instance and resumes, and its subscriptions (presence among them) end now.
   */
  goAway(): void {
    if (this.goneAway) return;
    this.goneAway = true;
    this.httpServer?.off('upgrade', this.onUpgrade);
    for (const socket of this.wss.clients) closeSocket(socket, 1001, 'Going away');
  }

  async onModuleDestroy(): Promise<void> {
    this.stopListening?.();
    this.heartbeat.stop();
    this.goAway();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /**
   * Outbox: a fastlane frame, already encoded, to one subscriber; returns whether it went at once (nothing was
   * waiting in the socket's buffer after it). The fastlane has no queue of its own: its events wait, if at all, in
   * the socket's buffer, and the subscription counts those (`waiting`).
   */
  send(socket: WebSocket, head: string, body: readonly Buffer[], waiting: number): boolean {
    if (socket.readyState !== WebSocket.OPEN) return true;
    // The frames a socket is sent while the event loop handles one round of input (its messageAdded and its inbox
    // update for one message, whether encoded at once or after a promise) leave in one write: the socket stays
    // corked until the round's callbacks and their promises are done (setImmediate).
    let corked = this.corked.get(socket);
    if (corked === undefined) {
      if (this.corked.size === 0) setImmediate(this.uncork);
      this.streamOf.get(socket)?.cork();
      corked = 0;
    }
    const before = socket.bufferedAmount;
    socket.send(frameOf(head, body), TEXT);
    corked += socket.bufferedAmount - before;
    this.corked.set(socket, corked);
    return this.delivered(socket, waiting, corked);
  }

  private async onConnect(ctx: WsContext): Promise<boolean> {
    const extra = ctx.extra;
    this.heartbeat.initialised(extra.socket);
    const context = await this.contexts.forConnection(
      ctx.connectionParams?.authorization,
      extra.request!,
      new WsConnection(`ws-${nextConnectionId++}`, extra.socket, this.metrics),
    );
    if (!context) return false;
    extra.requestContext = context;
    if (context.viewer) this.viewerOf.set(extra.socket, context.viewer.id);
    const expiresAtMs = context.viewer?.expiresAtMs;
    if (expiresAtMs !== undefined) this.heartbeat.expireAt(extra.socket, expiresAtMs);
    // Nothing reads the upgrade request or the token after this, and holding them (headers and all) for the
    // socket's lifetime costs kilobytes per idle connection.
    extra.request = undefined;
    if (ctx.connectionParams) delete (ctx.connectionParams as Record<string, unknown>).authorization;
    this.metrics.connections.inc();
    return true;
  }

  private onSubscribe(ctx: WsContext, id: string, payload: SubscribePayload): ExecutionArgs | readonly GraphQLError[] {
    const { maxSubscriptionsPerConnection } = this.config.ws;
    if (Object.keys(ctx.subscriptions).length > maxSubscriptionsPerConnection) {
      return [
        new GraphQLError(`At most ${maxSubscriptionsPerConnection} operations per connection`, {
          extensions: { code: 'BAD_REQUEST' },
        }),
      ];
    }
    const extra = ctx.extra;
    const admitted = this.admission.admit(this.schemaHost.schema, payload, extra.requestContext!);
    if ('errors' in admitted) return admitted.errors;
    const viewerId = extra.requestContext?.viewer?.id ?? null;
    this.fastlane.route(admitted.args, new SocketTarget(id, viewerId, extra.socket, this, this.errors));
    return admitted.args;
  }

  /**
   * Counts a delivery, and applies the one slow-consumer rule: a socket whose client stopped reading is closed
   * (1013) once WS_MAX_BUFFERED_BYTES wait in its buffer, or once one of its subscriptions has more than
   * WS_MAX_QUEUED_EVENTS events waiting (`waiting`: in the socket's buffer for the fastlane; a feed's queue,
   * capped by the same number, for the normal path). Returns whether nothing waits in the socket's buffer now.
   */
  /** `corked`: bytes this tick's frames hold back on purpose, which are not the subscriber's to drain. */
  private delivered(socket: WebSocket, waiting: number, corked = 0): boolean {
    this.metrics.delivered();
    const buffered = socket.bufferedAmount - corked;
    if (buffered === 0) return true;
    const { maxBufferedBytes, maxQueuedEvents } = this.config.ws;
    if (buffered > maxBufferedBytes) {
      this.logger.warn('closing a slow consumer: send buffer over the cap');
      closeSlow(socket, this.metrics, 'slow consumer: send buffer over the cap');
    } else if (waiting >= maxQueuedEvents) {
      this.logger.warn('closing a slow consumer: too many undelivered events');
      closeSlow(socket, this.metrics, 'slow consumer: too many undelivered events');
    }
    return false;
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // app.setup.ts's listener, which runs first, refuses other paths and answers 503 while draining.
    if (!socket.writable) return;
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      this.streamOf.set(ws, socket);
      this.wss.emit('connection', ws, request);
    });
  };
}

const TEXT = { binary: false } as const;

/** Where fastlane frames go; the server itself, so each subscription holds one reference, not closures. */
interface Outbox {
  send(socket: WebSocket, head: string, body: readonly Buffer[], waiting: number): boolean;
}

/** One message's bytes: `head` in UTF-8, then the parts of `body`, in one allocation. */
function frameOf(head: string, body: readonly Buffer[]): Buffer {
  let length = Buffer.byteLength(head);
  for (const part of body) length += part.length;
  const frame = Buffer.allocUnsafe(length);
  let at = frame.write(head);
  for (const part of body) at += part.copy(frame, at);
  return frame;
}

/** A `ws` socket as graphql-ws's protocol server drives it. */
class SocketAdapter implements ProtocolSocket {
  constructor(
    private readonly socket: WebSocket,
    private readonly logger: Logger,
  ) {}

  get protocol(): string {
    return this.socket.protocol;
  }

  /**
   * graphql-ws awaits this before its next message: back-pressure, so it waits only once the socket's buffer is
   * over the stream's high-water mark.
   */
  send(data: string): Promise<void> | undefined {
    const socket = this.socket;
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount < HIGH_WATER_MARK) {
      socket.send(data);
      return;
    }
    return new Promise<void>((resolve, reject) => socket.send(data, (error) => (error ? reject(error) : resolve())));
  }

  close(code: number, reason: string): void {
    closeSocket(this.socket, code, reason);
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    const { socket, logger } = this;
    socket.on('message', (data: Buffer) => {
      // Closing (its token expired, say): what the client sends meanwhile is not run.
      if (socket.readyState !== WebSocket.OPEN) return;
      handle(String(data)).catch((error: unknown) => {
        logger.error(`graphql-ws message handling failed: ${errorMessage(error)}`);
        closeSocket(socket, CloseCode.InternalServerError, 'Internal server error');
      });
    });
  }
}

/** Node's default for a stream. */
const HIGH_WATER_MARK = 16 * 1024;

/** A connection as resolvers see it (RequestContext.connection): feeds use it to shed a slow consumer. */
class WsConnection implements ConnectionInfo {
  constructor(
    readonly id: string,
    private readonly socket: WebSocket,
    private readonly metrics: MetricsService,
  ) {}

  close(code: number, reason: string): void {
    if (code === SLOW_CONSUMER_CLOSE_CODE) closeSlow(this.socket, this.metrics, reason);
    else closeSocket(this.socket, code, reason);
  }
}

function closeSlow(socket: WebSocket, metrics: MetricsService, reason: string): void {
  if (socket.readyState !== WebSocket.OPEN) return;
  metrics.slowConsumers.inc();
  closeSocket(socket, SLOW_CONSUMER_CLOSE_CODE, reason);
}

/** Where a fastlane operation's frames go: its socket. */
class SocketTarget implements FastlaneTarget {
  /** This subscription's frames sent since the socket's buffer was last found empty: its undelivered events. */
  private waiting = 0;

  constructor(
    readonly operationId: string,
    readonly viewerId: string | null,
    private readonly socket: WebSocket,
    private readonly outbox: Outbox,
    private readonly errors: ErrorFormatter,
  ) {}

  send(head: string, body: readonly Buffer[]): void {
    this.waiting = this.outbox.send(this.socket, head, body, this.waiting) ? 0 : this.waiting + 1;
  }

  formatErrors(result: ExecutionResult): readonly GraphQLFormattedError[] {
    return this.errors.formatResult(result) ?? [];
  }
}
