/** Queries and mutations over HTTP (POST /graphql), with GraphQL errors turned into exceptions (errors.ts words them). */
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

/** A GraphQL error as the server sends it, over HTTP or in a subscription's result. */
export function toApiError(error: { message: unknown; extensions?: unknown }): ApiError {
  const extensions = (error.extensions ?? {}) as { code?: unknown; retryAfterMs?: unknown };
  return new ApiError(
    typeof extensions.code === 'string' ? extensions.code : 'ERROR',
    String(error.message),
    typeof extensions.retryAfterMs === 'number' ? extensions.retryAfterMs : undefined,
  );
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
  if (error) throw toApiError(error);
  if (!body.data) throw new ApiError(`HTTP_${response.status}`, `The server answered ${response.status}`);
  return body.data;
}
