/**
 * GraphiQL's fetcher: queries and mutations over HTTP with the headers editor's headers; subscriptions over
 * graphql-ws, where the `Authorization` header becomes `connectionParams.authorization` (the only way this
 * server authenticates a WebSocket). One graphql-ws client per distinct authorization value.
 */
import type { Fetcher, FetcherOpts, FetcherParams, FetcherReturnType } from '@graphiql/toolkit';
import { type DocumentNode, type FormattedExecutionResult, getOperationAST, OperationTypeNode, parse } from 'graphql';
import { type Client, createClient } from 'graphql-ws';

/** What the wire carries. GraphiQL only displays it, though its types ask for GraphQLError instances. */
type Result = FormattedExecutionResult<Record<string, unknown>, unknown>;

export function createFetcher(httpUrl: string, wsUrl: string): Fetcher {
  const clients = new Map<string, Client>();
  const clientFor = (authorization: string): Client => {
    let client = clients.get(authorization);
    if (!client) {
      // No retries: in an IDE a refused or dropped socket should show up in the result pane, not be hidden.
      client = createClient({
        url: wsUrl,
        connectionParams: authorization ? { authorization } : {},
        retryAttempts: 0,
      });
      clients.set(authorization, client);
    }
    return client;
  };

  return (params: FetcherParams, opts?: FetcherOpts) => {
    const headers = stringHeaders(opts?.headers);
    const result = isSubscription(params, opts?.documentAST)
      ? subscription(clientFor(authorizationOf(headers)), params)
      : post(httpUrl, params, headers);
    return result as FetcherReturnType;
  };
}

async function post(url: string, params: FetcherParams, headers: Record<string, string>): Promise<Result> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json', ...headers },
    body: JSON.stringify(params),
  });
  const text = await response.text();
  try {
    return JSON.parse(text) as Result;
  } catch {
    return { errors: [{ message: `The server answered ${response.status}: ${text.slice(0, 200)}` }] };
  }
}

function subscription(client: Client, params: FetcherParams) {
  return {
    subscribe(
      observerOrNext?: Partial<Observer> | ((value: Result) => void),
      error?: ((error: unknown) => void) | null,
      complete?: () => void,
    ) {
      const observer: Partial<Observer> =
        typeof observerOrNext === 'function'
          ? { next: observerOrNext, error: error ?? undefined, complete }
          : (observerOrNext ?? {});
      const dispose = client.subscribe(
        {
          query: params.query,
          operationName: params.operationName,
          variables: params.variables as Record<string, unknown> | undefined,
        },
        {
          next: (result) => observer.next?.(result),
          error: (problem) => {
            // GraphQL errors (FORBIDDEN, a validation error) are shown as a result; a closed socket as an error.
            if (Array.isArray(problem)) {
              observer.next?.({ errors: problem });
              observer.complete?.();
            } else {
              observer.error?.(new Error(describeClose(problem)));
            }
          },
          complete: () => observer.complete?.(),
        },
      );
      return { unsubscribe: dispose };
    },
  };
}

interface Observer {
  next: (value: Result) => void;
  error: (error: unknown) => void;
  complete: () => void;
}

function isSubscription(params: FetcherParams, documentAST?: DocumentNode): boolean {
  try {
    const document = documentAST ?? parse(params.query);
    return getOperationAST(document, params.operationName ?? undefined)?.operation === OperationTypeNode.SUBSCRIPTION;
  } catch {
    // Not parseable: let the server say why, over HTTP.
    return false;
  }
}

function stringHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      result[name] = String(value);
  }
  return result;
}

function authorizationOf(headers: Record<string, string>): string {
  const name = Object.keys(headers).find((key) => key.toLowerCase() === 'authorization');
  return name ? headers[name] : '';
}

function describeClose(problem: unknown): string {
  if (problem && typeof problem === 'object' && 'code' in problem) {
    const { code, reason } = problem as { code: number; reason?: string };
    const hint = code === 4403 ? ' (put "Authorization": "Bearer <token>" in the headers editor)' : '';
    return `WebSocket closed ${code}${reason ? `: ${reason}` : ''}${hint}`;
  }
  return problem instanceof Error ? problem.message : 'The WebSocket connection failed';
}
