/**
 * The chat page: sign-in and sign-up, the chat lists, and one open ChatRoom at a time. The token stays in
 * localStorage and the open chat in the URL hash (#chat=<id>), so a reload comes back to the same place.
 */
import type { Client } from 'graphql-ws';
import { ApiError, request } from './api';
import { ChatAdmin } from './chat-admin';
import { ChatList, ListedChat } from './chat-list';
import { ChatRoom, clearRoomView, MESSAGE_DELETED, RoomView } from './chat-room';
import { byId, el } from './dom';
import { describeError, NAME_NEEDED, SESSION_ENDED } from './errors';
import { connectLive, ConnectionStatus, queryLive } from './live';
import {
  AuthResult,
  CHATS,
  ChatsResult,
  ChatSummary,
  CREATE_CHAT,
  INBOX,
  InboxResult,
  JOIN_CHAT,
  ME,
  PUBLIC_CHAT_CREATED,
  PublicChatCreatedResult,
  SIGN_IN,
  SIGN_UP,
  User,
} from './operations';
import { session } from './session';

const page = {
  connection: byId('connection'),
  account: byId('account'),
  accountName: byId('account-name'),
  signOut: byId<HTMLButtonElement>('sign-out'),
  auth: byId('auth'),
  authForm: byId<HTMLFormElement>('auth-form'),
  firstName: byId<HTMLInputElement>('first-name'),
  signUp: byId<HTMLButtonElement>('sign-up'),
  workspace: byId('workspace'),
  myChats: byId<HTMLUListElement>('my-chats'),
  publicChats: byId<HTMLUListElement>('public-chats'),
  createChatForm: byId<HTMLFormElement>('create-chat-form'),
  chatTitle: byId('chat-title'),
  showMembers: byId<HTMLButtonElement>('show-members'),
  hideMembers: byId<HTMLButtonElement>('hide-members'),
  messages: byId<HTMLOListElement>('messages'),
  noMessages: byId('no-messages'),
  seenBy: byId('seen-by'),
  typingStatus: byId('typing-status'),
  admin: byId('chat-admin'),
  roster: byId<HTMLUListElement>('roster'),
  addMemberForm: byId<HTMLFormElement>('add-member-form'),
  renameForm: byId<HTMLFormElement>('rename-form'),
  leaveChat: byId<HTMLButtonElement>('leave-chat'),
  loadOlder: byId<HTMLButtonElement>('load-older'),
  composer: byId<HTMLFormElement>('composer'),
  messageInput: byId<HTMLTextAreaElement>('message-input'),
  members: byId<HTMLUListElement>('members'),
  error: byId('error'),
  errorText: byId('error-text'),
  errorDismiss: byId<HTMLButtonElement>('error-dismiss'),
};

/** The open chat's part of the page. */
const roomView: RoomView = {
  title: page.chatTitle,
  messages: page.messages,
  loadOlder: page.loadOlder,
  members: page.members,
  seenBy: page.seenBy,
  empty: page.noMessages,
  typingStatus: page.typingStatus,
};

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  connecting: 'Connecting…',
  online: 'Live',
  offline: 'Offline, reconnecting…',
};

let signedIn: { token: string; viewer: User; live: Client; stopLists: () => void } | null = null;
let room: ChatRoom | null = null;
let admin: ChatAdmin | null = null;
let chatList = new ChatList();
/** Public chats the viewer may join: from the query, then each one created since. */
let publicChats: ChatSummary[] = [];

function showError(error: unknown): void {
  if (error instanceof ApiError && error.code === 'UNAUTHENTICATED' && signedIn) {
    signOut(SESSION_ENDED);
    return;
  }
  page.errorText.textContent = describeError(error);
  page.error.hidden = false;
}

function clearError(): void {
  page.error.hidden = true;
  page.errorText.textContent = '';
}

async function enter(token: string): Promise<void> {
  const { me } = await request<{ me: User }>(ME, {}, token);
  session.save(token);
  // A disposed client still reports its last close: only the current one speaks for the page.
  const live: Client = connectLive({
    token,
    onStatus: (status) => {
      if (signedIn?.live === live) page.connection.textContent = STATUS_TEXT[status];
    },
    onForbidden: () => {
      if (signedIn?.live === live) signOut(SESSION_ENDED);
    },
    onReconnected: () => {
      if (signedIn?.live === live) refreshChats(live).catch(showError);
    },
  });
  chatList = new ChatList();
  publicChats = [];
  // Subscribed before the lists are read, on the same socket, so nothing that changes in between is missed.
  const stopLists = followLists(live);
  signedIn = { token, viewer: me, live, stopLists };
  page.accountName.replaceChildren(me.firstName, el('span', { className: 'account-email', text: ` (${me.email})` }));
  page.auth.hidden = true;
  page.account.hidden = false;
  page.workspace.hidden = false;
  await refreshChats(live);
  openChatFromHash();
}

function signOut(notice?: string): void {
  room?.close();
  room = null;
  admin?.close();
  admin = null;
  signedIn?.stopLists();
  void signedIn?.live.dispose();
  signedIn = null;
  session.clear();
  page.workspace.hidden = true;
  page.account.hidden = true;
  page.auth.hidden = false;
  page.connection.textContent = '';
  if (notice) showError(notice);
}

/** The chat list (`inbox`) and the chats to join (`publicChatCreated`), live for as long as the page is signed in. */
function followLists(live: Client): () => void {
  const stops = [
    live.subscribe<InboxResult>(
      { query: INBOX },
      {
        next: ({ data }) => {
          if (data && chatList.apply(data.inbox)) renderLists();
        },
        error: showError,
        complete: () => undefined,
      },
    ),
    live.subscribe<PublicChatCreatedResult>(
      { query: PUBLIC_CHAT_CREATED },
      {
        next: ({ data }) => {
          if (!data || publicChats.some((chat) => chat.id === data.publicChatCreated.id)) return;
          publicChats = [data.publicChatCreated, ...publicChats];
          renderLists();
        },
        error: showError,
        complete: () => undefined,
      },
    ),
  ];
  return () => stops.forEach((stop) => stop());
}

/** Reads both lists: over `live` when they must follow its subscriptions without a gap, over HTTP otherwise. */
async function refreshChats(live?: Client): Promise<void> {
  if (!signedIn) return;
  const answer = live
    ? await queryLive<ChatsResult>(live, CHATS)
    : await request<ChatsResult>(CHATS, {}, signedIn.token);
  if (!signedIn) return;
  chatList.load(answer.chats);
  const known = new Set(publicChats.map((chat) => chat.id));
  publicChats = [...publicChats, ...answer.publicChats.filter((chat) => !known.has(chat.id))];
  renderLists();
}

function renderLists(): void {
  const chats = chatList.sorted();
  page.myChats.replaceChildren(...chats.map(chatLink));
  if (!chats.length) page.myChats.append(el('li', { className: 'empty', text: 'No chats yet: create or join one.' }));
  const joinable = publicChats.filter((chat) => !chatList.has(chat.id));
  page.publicChats.replaceChildren(...joinable.map(joinItem));
  if (!joinable.length) page.publicChats.append(el('li', { className: 'empty', text: 'Nothing new to join.' }));
  markCurrentChat();
}

function chatLink(chat: ListedChat): HTMLLIElement {
  const link = el('a', { text: chat.roomName, attrs: { href: `#chat=${encodeURIComponent(chat.id)}` } });
  link.dataset.chatId = chat.id;
  const unread = chatList.unread(chat);
  const preview = chat.lastMessage
    ? el('p', {
        className: 'preview',
        text: `${chat.lastMessage.user.firstName}: ${chat.lastMessage.deletedAt ? MESSAGE_DELETED : chat.lastMessage.content}`,
      })
    : el('p', { className: 'preview empty', text: 'No messages yet' });
  return el(
    'li',
    { className: unread ? 'listed unread' : 'listed', attrs: { 'data-chat-id': chat.id } },
    el(
      'div',
      { className: 'line' },
      link,
      ...(chat.isPrivate ? [el('span', { className: 'badge', text: 'private' })] : []),
      ...(unread
        ? [el('span', { className: 'unread-count', text: String(unread), attrs: { 'aria-label': `${unread} unread` } })]
        : []),
    ),
    preview,
  );
}

function joinItem(chat: ChatSummary): HTMLLIElement {
  const button = el('button', { text: 'Join', attrs: { type: 'button', 'aria-label': `Join ${chat.roomName}` } });
  button.addEventListener('click', () => {
    if (!signedIn) return;
    request(JOIN_CHAT, { chatId: chat.id }, signedIn.token)
      .then(async () => {
        await refreshChats();
        location.hash = `chat=${encodeURIComponent(chat.id)}`;
      })
      .catch(showError);
  });
  return el('li', {}, el('span', { text: chat.roomName }), button);
}

function field(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
}

function currentChatId(): string | null {
  const match = /^#chat=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function markCurrentChat(): void {
  const current = currentChatId();
  for (const link of page.myChats.querySelectorAll<HTMLAnchorElement>('a[data-chat-id]')) {
    if (link.dataset.chatId === current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function openChatFromHash(): void {
  if (!signedIn) return;
  const chatId = currentChatId();
  markCurrentChat();
  if (chatId === room?.chatId) return;
  room?.close();
  room = null;
  admin?.close();
  admin = null;
  page.composer.hidden = !chatId;
  page.showMembers.hidden = !chatId;
  showView(chatId ? 'chat' : 'list');
  if (!chatId) {
    clearRoomView(roomView, 'Pick a chat');
    return;
  }
  room = new ChatRoom(chatId, {
    token: signedIn.token,
    viewerId: signedIn.viewer.id,
    live: signedIn.live,
    view: roomView,
    onError: showError,
    onRead: (chatId, seq) => {
      if (chatList.read(chatId, seq)) renderLists();
    },
    onPresent: (userIds) => admin?.presenceChanged(userIds),
  });
  room.open().catch((error: unknown) => {
    page.chatTitle.textContent = 'Pick a chat';
    showError(error);
  });
  admin = new ChatAdmin(chatId, {
    token: signedIn.token,
    viewerId: signedIn.viewer.id,
    view: {
      panel: page.admin,
      roster: page.roster,
      addForm: page.addMemberForm,
      renameForm: page.renameForm,
      leave: page.leaveChat,
    },
    onError: showError,
    onChanged: ({ renamed, left }) => {
      if (renamed) page.chatTitle.textContent = renamed;
      if (left) location.hash = '';
      refreshChats().catch(showError);
    },
    onOpen: (id) => {
      refreshChats()
        .then(() => (location.hash = `chat=${encodeURIComponent(id)}`))
        .catch(showError);
    },
  });
  admin.load().catch(showError);
}

/**
 * What a phone shows of the workspace: the chat list, the open chat, or its members (styles.css lays the three
 * out side by side on a wide screen and ignores this).
 */
type View = 'list' | 'chat' | 'members';

function showView(view: View): void {
  page.workspace.dataset.view = view;
  page.showMembers.setAttribute('aria-expanded', String(view === 'members'));
}

page.showMembers.addEventListener('click', () => showView('members'));
page.hideMembers.addEventListener('click', () => showView('chat'));

// Enter in a form submits it with its first button, which is Sign in; a name is only asked for to sign up.
page.firstName.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.isComposing) {
    event.preventDefault();
    page.authForm.requestSubmit(page.signUp);
  }
});

page.authForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearError();
  const form = new FormData(page.authForm);
  const signingUp = (event.submitter as HTMLButtonElement | null)?.value === 'signUp';
  const email = field(form, 'email');
  const password = field(form, 'password');
  const firstName = field(form, 'firstName').trim();
  if (signingUp && !firstName) {
    showError(NAME_NEEDED);
    return;
  }
  const call = signingUp
    ? request<{ signUp: AuthResult }>(SIGN_UP, { input: { email, password, firstName } }).then((r) => r.signUp)
    : request<{ signIn: AuthResult }>(SIGN_IN, { input: { email, password } }).then((r) => r.signIn);
  call
    .then(async (result) => {
      page.authForm.reset();
      await enter(result.token);
    })
    .catch(showError);
});

page.signOut.addEventListener('click', () => signOut());
page.errorDismiss.addEventListener('click', clearError);

page.createChatForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!signedIn) return;
  const form = new FormData(page.createChatForm);
  const input = { roomName: field(form, 'roomName'), isPrivate: form.get('isPrivate') === 'on' };
  request<{ createChat: ChatSummary }>(CREATE_CHAT, { input }, signedIn.token)
    .then(async ({ createChat }) => {
      page.createChatForm.reset();
      await refreshChats();
      location.hash = `chat=${encodeURIComponent(createChat.id)}`;
    })
    .catch(showError);
});

page.loadOlder.addEventListener('click', () => {
  room?.loadOlder().catch(showError);
});

page.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const current = room;
  const content = page.messageInput.value.trim();
  if (!current || !content) return;
  page.messageInput.value = '';
  current.send(content).catch((error: unknown) => {
    showError(error);
    // Give the text back rather than lose it, unless the user has started the next message.
    if (!page.messageInput.value) page.messageInput.value = content;
  });
});

page.messageInput.addEventListener('keydown', (event) => {
  // Enter sends, Shift+Enter starts a new line; Enter that confirms an IME composition does neither.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    page.composer.requestSubmit();
  }
});
page.messageInput.addEventListener('input', () => room?.composing(page.messageInput.value.trim() !== ''));
page.messageInput.addEventListener('blur', () => room?.stoppedComposing());

window.addEventListener('hashchange', openChatFromHash);

const saved = session.token();
if (saved) {
  enter(saved).catch((error: unknown) => {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') signOut(SESSION_ENDED);
    else showError(error);
  });
} else {
  page.auth.hidden = false;
}
