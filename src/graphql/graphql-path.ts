/** Where the API is served, over HTTP and WebSocket alike. */
export const GRAPHQL_PATH = '/graphql';

/**
 * Whether a request's URL is the API's: its path `/graphql` (or `/graphql/`), whatever its query, also in the
 * absolute form (`http://host/graphql`) that HTTP/1.1 servers must accept.
 */
export function isGraphqlUrl(url: string | undefined): boolean {
  let path = (url ?? '').split('?', 1)[0];
  const absolute = /^https?:\/\/[^/]*/i.exec(path);
  if (absolute) path = path.slice(absolute[0].length);
  return path === GRAPHQL_PATH || path === `${GRAPHQL_PATH}/`;
}
