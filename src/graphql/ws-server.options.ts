import { Logger } from '@nestjs/common';
import { ExecutionArgs, ExecutionResult, GraphQLError, GraphQLFormattedError } from 'graphql';
import type { Context, ServerOptions, SubscribePayload } from 'graphql-ws';
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { AppConfig } from '../config/app-config';
import { ConnectionInfo, RequestContext, SLOW_CONSUMER_CLOSE_CODE } from '../common/request-context';
import { MetricsService } from '../metrics/metrics.service';
import { UsersService } from '../users/users.service';
import { Fastlane, FastlaneTarget } from './fastlane';
import { formatError, formatResultErrors } from './format-error';
import { OperationPreparer } from './operation-preparer';
import { textFrame } from './text-frame';

/** What GraphqlWsServer puts in `ctx.extra`, plus the context built at connection_init. */
interface ConnectionExtra {
  socket: WebSocket;
  /**
   * The connection's own stream, where fastlane frames are written whole: ws, with no extension negotiated
   * (GraphqlWsServer turns compression off), writes each of its own frames synchronously and whole too, so
   * neither lands inside the other, and the shared payload bytes go out without a per-subscriber string.
   */
  stream: Writable;
  /** The upgrade request; released once the connection is authenticated (see onConnect). */
  request?: IncomingMessage;
  requestContext?: RequestContext;
}
type WsContext = Context<Record<string, unknown> | undefined, unknown>;
const extraOf = (ctx: WsContext) => ctx.extra as ConnectionExtra;

type WsServerOptions = ServerOptions<Record<string, unknown> | undefined, unknown>;

let nextConnectionId = 1;

export interface WsServerDeps {
  users: UsersService;
  config: AppConfig;
  metrics: MetricsService;
  operations: OperationPreparer;
  fastlaneFields: ReadonlySet<string>;
  /** Called when a socket sends connection_init, accepted or not: its init deadline no longer applies. */
  connectionInitialised: (socket: WebSocket) => void;
}

/**
 * graphql-ws server options: token check at connection_init (a bad one closes with 4403 before any operation),
 * the same { viewer } context as HTTP, and, because graphql-ws runs none of Apollo's rules or
 * plugins, the same limits (OperationPreparer) and the same error formatting as HTTP. Subscriptions to the
 * `fastlaneFields` share one execution and one serialization per event and selection (see Fastlane).
 */
export function createWsServerOptions({
  users,
  config,
  metrics,
  operations,
  fastlaneFields,
  connectionInitialised,
}: WsServerDeps): WsServerOptions {
  const logger = new Logger('GraphQLWebSocket');
  const fastlane = new Fastlane(fastlaneFields, () => metrics.eventEncodings.inc());

  // Several subscriptions share a socket; one that stops draining must not hold megabytes per event.
  const shedIfSlow = (extra: ConnectionExtra) => {
    if (extra.socket.bufferedAmount <= config.ws.maxBufferedBytes) return;
    logger.warn(`closing a slow consumer (${extra.requestContext?.connection?.id}): send buffer over the cap`);
    extra.requestContext?.connection?.close(SLOW_CONSUMER_CLOSE_CODE, 'slow consumer: send buffer over the cap');
  };
  const outbox: Outbox = {
    send(extra, head, body) {
      if (extra.socket.readyState !== extra.socket.OPEN) return;
      metrics.delivered();
      extra.stream.write(textFrame(head, body));
      shedIfSlow(extra);
    },
    slowConsumerClosed() {
      metrics.slowConsumers.inc();
    },
  };

  return {
    // GraphqlWsServer's heartbeat enforces the connection_init deadline, with one timer for every socket.
    connectionInitWaitTimeout: 0,
    onConnect: async (ctx: WsContext) => {
      const extra = extraOf(ctx);
      connectionInitialised(extra.socket);
      const viewer = await users
        .authenticate(ctx.connectionParams?.authorization, { remember: false })
        .catch(() => null);
      if (!viewer) return false;
      extra.requestContext = {
        viewer,
        clientKey: extra.request?.socket.remoteAddress ?? 'unknown',
        connection: new WsConnection(`ws-${nextConnectionId++}`, extra.socket, outbox),
      };
      // Nothing reads the upgrade request or the token after this, and holding them (headers and all) for the
      // socket's lifetime costs kilobytes per idle connection.
      extra.request = undefined;
      if (ctx.connectionParams) delete (ctx.connectionParams as Record<string, unknown>).authorization;
      metrics.connections.inc();
      return true;
    },
    subscribe: fastlane.subscribe,
    onSubscribe: (ctx: WsContext, id: string, payload: SubscribePayload): ExecutionArgs | readonly GraphQLError[] => {
      if (Object.keys(ctx.subscriptions).length > config.ws.maxSubscriptionsPerConnection) {
        return [
          new GraphQLError(`At most ${config.ws.maxSubscriptionsPerConnection} operations per connection`, {
            extensions: { code: 'BAD_REQUEST' },
          }),
        ];
      }
      const extra = extraOf(ctx);
      const prepared = operations.prepare(payload, extra.requestContext);
      if ('errors' in prepared) return prepared.errors;
      fastlane.route(prepared.args, new SocketTarget(id, extra, outbox));
      return prepared.args;
    },
    onNext: (ctx, _id, _payload, _args, result) => {
      metrics.delivered();
      shedIfSlow(extraOf(ctx));
      const errors = formatResultErrors(result);
      return errors && { ...result, errors };
    },
    onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatError(error.toJSON(), error)),
    onClose: (ctx, code) => {
      if (extraOf(ctx).requestContext) metrics.connections.dec();
      if (code !== undefined && code >= 4400 && code < 4500 && code !== 4403)
        logger.debug(`socket closed with ${code}`);
    },
  };
}

/** What every connection's small objects share, so that each holds one reference instead of its own closures. */
interface Outbox {
  send(extra: ConnectionExtra, head: Buffer, body: readonly Buffer[]): void;
  slowConsumerClosed(): void;
}

/** A connection as resolvers see it (RequestContext.connection). */
class WsConnection implements ConnectionInfo {
  constructor(
    readonly id: string,
    private readonly socket: WebSocket,
    private readonly outbox: Outbox,
  ) {}

  close(code: number, reason: string): void {
    this.outbox.slowConsumerClosed();
    this.socket.close(code, reason);
    // A client that stopped reading will not complete the closing handshake either.
    const socket = this.socket;
    setTimeout(() => socket.terminate(), 1000).unref();
  }
}

/** Where a fastlane operation's frames go: its socket. */
class SocketTarget implements FastlaneTarget {
  constructor(
    readonly operationId: string,
    private readonly extra: ConnectionExtra,
    private readonly outbox: Outbox,
  ) {}

  send(head: Buffer, body: readonly Buffer[]): void {
    this.outbox.send(this.extra, head, body);
  }

  formatErrors(result: ExecutionResult): readonly GraphQLFormattedError[] {
    return formatResultErrors(result) ?? [];
  }
}
