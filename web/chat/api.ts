/** Queries and mutations over HTTP (POST /graphql), with GraphQL errors turned into readable exceptions. */
export class ApiError extends Error {
  constructor(
    /** `extensions.code` (FORBIDDEN, RATE_LIMITED, …), or NETWORK / HTTP_<status> when no GraphQL answer came. */
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; retryAfterMs?: number } }[];
}

export async function request<T>(query: string, variables: Record<string, unknown>, token?: string | null): Promise<T> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('NETWORK', 'The server cannot be reached');
  }
  let body: GraphQLResponse<T>;
  try {
    body = (await response.json()) as GraphQLResponse<T>;
  } catch {
    throw new ApiError(`HTTP_${response.status}`, `The server answered ${response.status}`);
  }
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.extensions?.code ?? 'ERROR', error.message, error.extensions?.retryAfterMs);
  if (!body.data) throw new ApiError(`HTTP_${response.status}`, `The server answered ${response.status}`);
  return body.data;
}

/** "FORBIDDEN: not a member of this chat" for any error a call can end with. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  if (Array.isArray(error)) return error.map(describeError).join('; ');
  // graphql-ws hands a CloseEvent to a subscription that ends with its socket.
  if (error && typeof error === 'object' && 'code' in error && !('message' in error)) {
    return `Connection closed (${String(error.code)})`;
  }
  if (error && typeof error === 'object' && 'message' in error) {
    const { message, extensions } = error as { message: string; extensions?: { code?: string } };
    return extensions?.code ? `${extensions.code}: ${message}` : message;
  }
  return String(error);
}
