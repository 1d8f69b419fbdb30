/** A minimal GraphQL-over-HTTP client for the suites, and helpers for the common set-up steps. */
export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
  raw: string;
}

export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  token?: string,
): Promise<GqlResponse<T>> {
  return post<T>(url, JSON.stringify({ query, variables }), token);
}

export async function post<T = Record<string, unknown>>(
  url: string,
  body: string,
  token?: string,
  contentType = 'application/json',
): Promise<GqlResponse<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  const raw = await res.text();
  let parsed: { data?: T; errors?: GqlResponse['errors'] } = {};
  try {
    parsed = JSON.parse(raw) as typeof parsed;
  } catch {
    // Not JSON: the raw text is kept for the assertion that looks at it.
  }
  return { status: res.status, data: parsed.data, errors: parsed.errors, raw };
}

export function errorCode(response: GqlResponse): unknown {
  return response.errors?.[0]?.extensions?.code;
}

/** The data of a response that must have succeeded; fails loudly with the errors otherwise. */
export function ok<T>(response: GqlResponse<T>): T {
  if (response.errors?.length || !response.data) {
    throw new Error(`GraphQL request failed (${response.status}): ${response.raw.slice(0, 2000)}`);
  }
  return response.data;
}

let userCounter = 0;

export interface TestUser {
  id: string;
  email: string;
  token: string;
}

export async function signUp(url: string, name = 'User'): Promise<TestUser> {
  const email = `user${++userCounter}.${process.pid}.${Date.now()}@example.com`;
  const data = ok(
    await gql<{ signUp: { token: string; user: { id: string; email: string } } }>(
      url,
      'mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email } } }',
      { input: { email, firstName: name, password: 'correct horse battery' } },
    ),
  );
  return { id: data.signUp.user.id, email: data.signUp.user.email, token: data.signUp.token };
}

export async function createChat(url: string, user: TestUser, roomName = 'room', isPrivate = false): Promise<string> {
  const data = ok(
    await gql<{ createChat: { id: string } }>(
      url,
      'mutation($input: CreateChatInput!) { createChat(input: $input) { id } }',
      { input: { roomName, isPrivate } },
      user.token,
    ),
  );
  return data.createChat.id;
}

export async function joinChat(url: string, user: TestUser, chatId: string): Promise<void> {
  ok(await gql(url, 'mutation($id: ID!) { joinChat(chatId: $id) { id } }', { id: chatId }, user.token));
}

export interface SentMessage {
  id: string;
  seq: number;
  content: string;
  clientId: string | null;
}

export async function sendMessage(
  url: string,
  user: TestUser,
  chatId: string,
  content: string,
  clientId?: string,
): Promise<SentMessage> {
  const data = ok(
    await gql<{ sendMessage: SentMessage }>(
      url,
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id seq content clientId } }',
      { input: { chatId, content, clientId } },
      user.token,
    ),
  );
  return data.sendMessage;
}
