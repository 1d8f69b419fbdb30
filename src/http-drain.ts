import type { Server, ServerResponse } from 'node:http';

/**
 * Closes the HTTP server for shutdown without cutting a request short. It counts requests in flight (one shared
 * listener per response; nothing is kept per connection, so an idle WebSocket costs nothing here), and on
 * close stops accepting, ends each keep-alive connection as soon as it is idle, and resolves once no request
 * is left, so the modules a request needs are torn down only after it has been answered.
 */
export class HttpDrain {
  private inFlight = 0;
  private settled?: () => void;

  constructor(private readonly server: Server) {
    const onResponseClosed = () => {
      this.inFlight--;
      if (this.inFlight === 0) this.settled?.();
    };
    server.prependListener('request', (_req: unknown, res: ServerResponse) => {
      this.inFlight++;
      res.on('close', onResponseClosed);
    });
  }

  /**
   * `graceMs`: how long requests in flight may take; one still unanswered then (a client that stopped sending its
   * body, say) is cut, so it cannot hold the shutdown to its timeout. Upgraded sockets (WebSockets) are not the
   * HTTP server's connections any more, and are left alone.
   */
  close(graceMs: number): Promise<void> {
    this.server.close();
    // close() ends the connections that are idle now; one with a request in flight would otherwise stay open
    // until its keep-alive timeout after the response, holding the exit back by seconds.
    const sweep = setInterval(() => this.server.closeIdleConnections(), 50);
    const cut = setTimeout(() => this.server.closeAllConnections(), graceMs);
    return new Promise<void>((resolve) => {
      this.settled = resolve;
      if (this.inFlight === 0) resolve();
    }).finally(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      // What is left holds no request: idle keep-alives, and connections whose request headers never came.
      this.server.closeAllConnections();
    });
  }
}
