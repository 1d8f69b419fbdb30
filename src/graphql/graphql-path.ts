/** Where the API is served, over HTTP and WebSocket alike. */
export const GRAPHQL_PATH = '/graphql';

/** Whether a request's URL is the API's: its path `/graphql` (or `/graphql/`), whatever its query. */
export function isGraphqlUrl(url: string | undefined): boolean {
  const path = (url ?? '').split('?', 1)[0];
  return path === GRAPHQL_PATH || path === `${GRAPHQL_PATH}/`;
}
