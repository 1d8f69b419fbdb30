import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { CloseCode, handleProtocols, makeServer } from 'graphql-ws';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { UsersService } from '../users/users.service';
import { Heartbeat } from './heartbeat';
import { createWsServerOptions } from './ws-server.options';

/**
 * Subscription fields whose events are immutable and the same for every subscriber, so the fastlane may share
 * one execution per event and selection. A field whose result depends on the viewer must never be listed.
 */
const FASTLANE_FIELDS: ReadonlySet<string> = new Set(['messageAdded']);

const GRAPHQL_PATH = '/graphql';

/**
 * graphql-ws on /graphql, attached to the HTTP server ourselves rather than through the GraphQL driver: the
 * driver's adapter gives every socket its own keep-alive interval, a timeout per ping and a promise per frame,
 * which an idle connection pays for in memory and the event loop in timers. Here one heartbeat covers every
 * socket, and the protocol itself is graphql-ws's own (`makeServer`), so clients see no difference.
 */
@Injectable()
export class GraphqlWsServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(GraphqlWsServer.name);
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols });
  private readonly heartbeat: Heartbeat<WebSocket>;
  private httpServer?: HttpServer;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly schemaHost: GraphQLSchemaHost,
    private readonly users: UsersService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.heartbeat = new Heartbeat<WebSocket>(config.ws.keepAliveMs);
  }

  onApplicationBootstrap(): void {
    const protocol = makeServer(
      createWsServerOptions(this.users, this.config, this.metrics, () => this.schemaHost.schema, FASTLANE_FIELDS),
    );
    this.wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      socket.once('error', (error) => {
        this.logger.warn(`socket error: ${error.message}`);
        socket.close(CloseCode.InternalServerError, 'Internal server error');
      });
      this.heartbeat.watch(socket);
      const closed = protocol.opened(
        {
          protocol: socket.protocol,
          // graphql-ws awaits this before pulling the next event of an operation: back-pressure for the
          // normal path (the fastlane writes to the socket itself and watches bufferedAmount instead).
          send: (data) =>
            new Promise<void>((resolve, reject) => {
              if (socket.readyState !== WebSocket.OPEN) return resolve();
              socket.send(data, (error) => (error ? reject(error) : resolve()));
            }),
          close: (code, reason) => socket.close(code, reason),
          onMessage: (handle) =>
            socket.on('message', (data: Buffer) => {
              handle(String(data)).catch((error: unknown) => {
                this.logger.error(`graphql-ws message handling failed: ${String(error)}`);
                socket.close(CloseCode.InternalServerError, 'Internal server error');
              });
            }),
        },
        { socket, request },
      );
      socket.once('close', (code: number, reason: Buffer) => {
        this.heartbeat.forget(socket);
        closed(code, reason.toString()).catch((error: unknown) =>
          this.logger.error(`graphql-ws close handling failed: ${String(error)}`),
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
