import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { CloseCode, handleProtocols, makeServer, WebSocket as GraphqlWsSocket } from 'graphql-ws';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { UsersService } from '../users/users.service';
import { Heartbeat } from './heartbeat';
import { OperationPreparer } from './operation-preparer';
import { textFrameOf } from './text-frame';
import { createWsServerOptions } from './ws-server.options';

/**
 * Subscription fields whose events are immutable and the same for every subscriber (a presence DIFF but for its
 * selfRef, which comes as a SharedEvent's personal value), so the fastlane may share one execution per event and
 * selection. A field whose result depends on the viewer in any other way must never be listed.
 */
const FASTLANE_FIELDS: ReadonlySet<string> = new Set(['messageAdded', 'presence']);

const GRAPHQL_PATH = '/graphql';
/** How long a socket may take to send connection_init (graphql-ws's 4408 after that). */
const CONNECTION_INIT_TIMEOUT_MS = 10_000;

/**
 * graphql-ws on /graphql, attached to the HTTP server ourselves rather than through the GraphQL driver: the
 * driver's adapter gives every socket its own keep-alive interval, a timeout per ping, a connection_init timer and
 * a set of closures, which an idle connection pays for in memory and the event loop in timers. Here one heartbeat
 * covers every socket (liveness and the connection_init deadline), and the protocol itself is graphql-ws's own
 * (`makeServer`), so clients see no difference.
 */
@Injectable()
export class GraphqlWsServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(GraphqlWsServer.name);
  // No compression: the fastlane writes its frames straight to each connection's stream (ws-server.options).
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols });
  private readonly heartbeat: Heartbeat<WebSocket>;
  private httpServer?: HttpServer;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly operations: OperationPreparer,
    private readonly users: UsersService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.heartbeat = new Heartbeat<WebSocket>(config.ws.keepAliveMs, CONNECTION_INIT_TIMEOUT_MS);
  }

  onApplicationBootstrap(): void {
    const protocol = makeServer(
      createWsServerOptions({
        users: this.users,
        config: this.config,
        metrics: this.metrics,
        operations: this.operations,
        fastlaneFields: FASTLANE_FIELDS,
        connectionInitialised: (socket) => this.heartbeat.initialised(socket),
      }),
    );
    const logger = this.logger;
    // Shared by every socket: an emitter calls its listeners with itself as `this`. `on` rather than `once`
    // throughout: a socket closes once, and `once` costs a wrapper object and a bound function per listener.
    function onSocketError(this: WebSocket, error: Error): void {
      logger.warn(`socket error: ${error.message}`);
      this.close(CloseCode.InternalServerError, 'Internal server error');
    }
    this.wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      socket.on('error', onSocketError);
      this.heartbeat.watch(socket);
      const stream = request.socket;
      const closed = protocol.opened(new ProtocolSocket(socket, stream, logger), { socket, request, stream });
      socket.on('close', (code: number, reason: Buffer) => {
        this.heartbeat.forget(socket);
        closed(code, reason.toString()).catch((error: unknown) =>
          logger.error(`graphql-ws close handling failed: ${String(error)}`),
        );
      });
    });
    this.httpServer = this.adapterHost.httpAdapter.getHttpServer() as HttpServer;
    this.httpServer.on('upgrade', this.onUpgrade);
    this.heartbeat.start();
  }

  /** Every socket is told to go elsewhere (1001), so its client reconnects to another instance and resumes. */
  async onModuleDestroy(): Promise<void> {
    this.heartbeat.stop();
    this.httpServer?.off('upgrade', this.onUpgrade);
    for (const socket of this.wss.clients) socket.close(1001, 'Going away');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // main.ts refuses other paths and answers 503 while draining, before this listener runs.
    if (!socket.writable || !request.url?.startsWith(GRAPHQL_PATH)) return;
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
  };
}

/** A `ws` socket as graphql-ws's protocol server drives it: one small object per connection, methods shared. */
class ProtocolSocket implements GraphqlWsSocket {
  constructor(
    private readonly socket: WebSocket,
    private readonly stream: Duplex,
    private readonly logger: Logger,
  ) {}

  get protocol(): string {
    return this.socket.protocol;
  }

  /**
   * graphql-ws awaits this before its next message: back-pressure for the normal path (the fastlane writes to
   * the socket itself and watches bufferedAmount instead), so it waits only when the stream is over its
   * high-water mark. The frame goes straight to the connection's stream, as the fastlane's do, and the stream
   * stays corked until the tick ends: an operation's `next` and `complete` leave in one write, not two.
   */
  send(data: string): Promise<void> | undefined {
    const { socket, stream } = this;
    if (socket.readyState !== WebSocket.OPEN) return;
    if (!stream.writableCorked) {
      stream.cork();
      process.nextTick(uncork, stream);
    }
    const frame = textFrameOf(data);
    if (stream.writableLength < stream.writableHighWaterMark) {
      stream.write(frame);
      return;
    }
    return new Promise<void>((resolve, reject) => {
      stream.write(frame, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    const { socket, logger } = this;
    socket.on('message', (data: Buffer) => {
      handle(String(data)).catch((error: unknown) => {
        logger.error(`graphql-ws message handling failed: ${String(error)}`);
        socket.close(CloseCode.InternalServerError, 'Internal server error');
      });
    });
  }
}

function uncork(stream: Duplex): void {
  stream.uncork();
}
