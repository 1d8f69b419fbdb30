import { Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { AppConfig } from '../config/app-config';
import { ConnectionInfo, RequestContext } from '../common/request-context';
import { UsersService } from '../users/users.service';

/**
 * Builds what every resolver sees, the same for each transport: the viewer named by the bearer token (the
 * Authorization header over HTTP, `connectionParams.authorization` over graphql-ws) and the client's address,
 * which is the socket's peer unless that peer is a proxy TRUST_PROXY names (then X-Forwarded-For is read back
 * to the first hop it does not trust).
 */
@Injectable()
export class RequestContexts {
  private readonly trusted: (address: string, hop: number) => boolean;

  constructor(
    private readonly users: UsersService,
    config: AppConfig,
  ) {
    this.trusted = proxyaddr.compile(config.trustProxy);
  }

  clientAddress(request: IncomingMessage): string {
    return proxyaddr(request, this.trusted) || 'unknown';
  }

  async forRequest(request: IncomingMessage): Promise<RequestContext> {
    return {
      viewer: await this.users.authenticate(request.headers.authorization),
      clientKey: this.clientAddress(request),
    };
  }

  /** Null when the connection's token does not name a user: the socket is refused before any operation. */
  async forConnection(
    authorization: unknown,
    request: IncomingMessage,
    connection: ConnectionInfo,
  ): Promise<RequestContext | null> {
    // A socket presents its token once; the user cache is for tokens that come with every request.
    const viewer = await this.users.authenticate(authorization, { remember: false }).catch(() => null);
    return viewer && { viewer, clientKey: this.clientAddress(request), connection };
  }
}
