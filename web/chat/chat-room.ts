/**
 * One open chat: its history (newest page first, older pages on demand), its live messages, its members panel
 * from presence, the typing signal, marking what is on screen as read, and "Seen by" under the newest message.
 * Closing it ends its subscriptions.
 */
import type { Client } from 'graphql-ws';
import { ApiError, request } from './api';
import { el } from './dom';
import { ChatMessage, MessageLog } from './message-log';
import {
  CHAT,
  ChatResult,
  DELETE_MESSAGE,
  EDIT_MESSAGE,
  MARK_READ,
  MESSAGE_CHANGED,
  MessageChangedResult,
  MESSAGE_ADDED,
  MessageAddedResult,
  MessagePage,
  OLDER_MESSAGES,
  OlderMessagesResult,
  PRESENCE,
  PresenceResult,
  READ_POSITIONS,
  ReadPositionsResult,
  SEND_MESSAGE,
  SET_TYPING,
} from './operations';
import { PresenceMembers } from './presence-members';
import { ReadReceipts } from './read-receipts';
import { typingSentence } from './typing-sentence';
import { TypingThrottle } from './typing-throttle';

const PAGE_SIZE = 30;
const SEND_ATTEMPTS = 4;
/** How close to the bottom (px) the reader must be for a new message to scroll the list. */
const STICKY_BOTTOM_PX = 80;
/** Reading is told once the page has been still this long: one markRead for a burst of messages, not one each. */
const MARK_READ_DEBOUNCE_MS = 400;

export interface RoomView {
  title: HTMLElement;
  messages: HTMLOListElement;
  loadOlder: HTMLButtonElement;
  members: HTMLUListElement;
  seenBy: HTMLElement;
  /** Shown while the chat has no message at all. */
  empty: HTMLElement;
  /** "Bob is typing…", by the composer. */
  typingStatus: HTMLElement;
}

/** What a deleted message reads as, in the room and in the chat list's preview. */
export const MESSAGE_DELETED = 'Message deleted';

/** The room's view with nothing in it: `title` says what stands there instead. */
export function clearRoomView(view: RoomView, title: string): void {
  view.title.textContent = title;
  view.messages.replaceChildren();
  view.members.replaceChildren();
  view.seenBy.textContent = '';
  view.empty.hidden = true;
  view.typingStatus.textContent = '';
  view.loadOlder.hidden = true;
}

export interface RoomContext {
  token: string;
  viewerId: string;
  live: Client;
  view: RoomView;
  onError: (error: unknown) => void;
  /** The viewer has read the chat up to `seq` (the chat list clears its badge). */
  onRead: (chatId: string, seq: number) => void;
  /** Who is here now, by user id (the Members roster reads itself again when someone new shows up). */
  onPresent: (userIds: string[]) => void;
}

export class ChatRoom {
  private readonly log = new MessageLog();
  private readonly presence = new PresenceMembers();
  private readonly typing = new TypingThrottle((typing) => this.sendTyping(typing));
  private readonly receipts: ReadReceipts;
  private readonly unsubscribes: (() => void)[] = [];
  /** The author of the newest message shown, whom "Seen by" leaves out. */
  private newestAuthor = '';
  /** Whether the viewer owns the chat (then they delete anyone's message), and the newest change applied. */
  private owner = false;
  private lastRevision = 0;
  /** The newest revision shown of each message, so a late event never undoes a newer change. */
  private readonly revisions = new Map<string, number>();
  /** The read position the server has been told (or is being told). */
  private toldRead = 0;
  private readTimer?: ReturnType<typeof setTimeout>;
  private readonly onVisible = () => this.scheduleRead();
  private olderCursor: string | null = null;
  private closed = false;

  constructor(
    readonly chatId: string,
    private readonly context: RoomContext,
  ) {
    this.receipts = new ReadReceipts(context.viewerId);
  }

  async open(): Promise<void> {
    const { view } = this.context;
    clearRoomView(view, 'Loading…');
    const { chat } = await request<ChatResult>(CHAT, { id: this.chatId, last: PAGE_SIZE }, this.context.token);
    if (this.closed) return;
    view.title.textContent = chat.isPrivate ? `${chat.roomName} (private)` : chat.roomName;
    this.receipts.update(chat.memberships);
    this.owner = chat.myRole === 'OWNER';
    this.lastRevision = chat.lastRevision;
    this.showPage(chat.messages);
    view.messages.scrollTop = view.messages.scrollHeight;
    this.subscribeMessages();
    this.subscribeChanges();
    this.subscribePresence();
    this.subscribeReadPositions();
    document.addEventListener('visibilitychange', this.onVisible);
    window.addEventListener('focus', this.onVisible);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.readTimer);
    document.removeEventListener('visibilitychange', this.onVisible);
    window.removeEventListener('focus', this.onVisible);
    this.typing.stopped();
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
  }

  async loadOlder(): Promise<void> {
    if (!this.olderCursor) return;
    const variables = { id: this.chatId, last: PAGE_SIZE, before: this.olderCursor };
    const { chat } = await request<OlderMessagesResult>(OLDER_MESSAGES, variables, this.context.token);
    if (this.closed) return;
    // Keep the messages the reader is looking at in place while older ones are inserted above them.
    const list = this.context.view.messages;
    const fromBottom = list.scrollHeight - list.scrollTop;
    this.showPage(chat.messages);
    list.scrollTop = list.scrollHeight - fromBottom;
  }

  /**
   * One clientId per message, reused by every retry, so a send whose answer was lost is not stored twice. The
   * message itself shows up through the live subscription, in seq order with everyone else's.
   */
  async send(content: string): Promise<void> {
    const clientId = randomId();
    this.typing.stopped();
    for (let attempt = 1; ; attempt++) {
      try {
        await request(SEND_MESSAGE, { input: { chatId: this.chatId, content, clientId } }, this.context.token);
        return;
      } catch (error) {
        if (!isTransient(error) || attempt >= SEND_ATTEMPTS || this.closed) throw error;
        await delay(error.retryAfterMs ?? 500 * attempt);
      }
    }
  }

  /** The composer changed: typing while it holds text, stopped when it is emptied. */
  composing(hasText: boolean): void {
    if (hasText) this.typing.typed();
    else this.typing.stopped();
  }

  stoppedComposing(): void {
    this.typing.stopped();
  }

  private subscribeMessages(): void {
    // graphql-ws sends this same payload again when it re-subscribes after a reconnect: keeping afterSeq at the
    // newest seq shown makes the server replay exactly the messages missed meanwhile.
    const variables = { chatId: this.chatId, afterSeq: this.log.newestSeq };
    const unsubscribe = this.context.live.subscribe<MessageAddedResult>(
      { query: MESSAGE_ADDED, variables },
      {
        next: ({ data, errors }) => {
          if (errors?.length) this.context.onError(errors);
          if (!data || this.closed) return;
          this.showMessages([data.messageAdded]);
          variables.afterSeq = this.log.newestSeq;
        },
        error: (error) => this.failed(error),
        complete: () => undefined,
      },
    );
    this.unsubscribes.push(unsubscribe);
  }

  private subscribePresence(): void {
    const unsubscribe = this.context.live.subscribe<PresenceResult>(
      { query: PRESENCE, variables: { chatId: this.chatId } },
      {
        next: ({ data, errors }) => {
          if (errors?.length) this.context.onError(errors);
          if (!data || this.closed) return;
          this.presence.apply(data.presence);
          this.renderMembers();
        },
        error: (error) => this.failed(error),
        complete: () => undefined,
      },
    );
    this.unsubscribes.push(unsubscribe);
  }

  /** Edits and deletes, shown in place; resumed from the newest revision applied after a reconnect. */
  private subscribeChanges(): void {
    const variables = { chatId: this.chatId, afterRevision: this.lastRevision };
    const unsubscribe = this.context.live.subscribe<MessageChangedResult>(
      { query: MESSAGE_CHANGED, variables },
      {
        next: ({ data, errors }) => {
          if (errors?.length) this.context.onError(errors);
          if (!data || this.closed) return;
          this.applyChange(data.messageChanged);
          variables.afterRevision = this.lastRevision;
        },
        error: (error) => this.failed(error),
        complete: () => undefined,
      },
    );
    this.unsubscribes.push(unsubscribe);
  }

  private applyChange(message: ChatMessage): void {
    const revision = message.revision ?? 0;
    this.lastRevision = Math.max(this.lastRevision, revision);
    if (revision <= (this.revisions.get(message.id) ?? 0)) return;
    this.revisions.set(message.id, revision);
    // A message not shown (older than the pages loaded) shows as it is when its page is.
    const shown = this.context.view.messages.querySelector(`li[data-id="${CSS.escape(message.id)}"]`);
    shown?.replaceWith(this.renderMessage(message));
  }

  private subscribeReadPositions(): void {
    const unsubscribe = this.context.live.subscribe<ReadPositionsResult>(
      { query: READ_POSITIONS, variables: { chatId: this.chatId } },
      {
        next: ({ data, errors }) => {
          if (errors?.length) this.context.onError(errors);
          if (!data || this.closed) return;
          if (this.receipts.update([data.readPositions])) this.renderSeenBy();
        },
        error: (error) => this.failed(error),
        complete: () => undefined,
      },
    );
    this.unsubscribes.push(unsubscribe);
  }

  /** What is on screen is read: told to the server once the page has been visible and still for a moment. */
  private scheduleRead(): void {
    clearTimeout(this.readTimer);
    if (this.closed || document.visibilityState !== 'visible' || this.log.newestSeq <= this.toldRead) return;
    this.readTimer = setTimeout(() => {
      const seq = this.log.newestSeq;
      if (this.closed || seq <= this.toldRead) return;
      this.toldRead = seq;
      this.context.onRead(this.chatId, seq);
      request<{ markRead: number }>(MARK_READ, { chatId: this.chatId, seq }, this.context.token).catch(
        (error: unknown) => {
          // Reading is told again with the next message or visit; a limited or lost call costs nothing.
          this.toldRead = 0;
          if (!isTransient(error)) this.context.onError(error);
        },
      );
    }, MARK_READ_DEBOUNCE_MS);
  }

  private renderSeenBy(): void {
    const names = this.log.newestSeq ? this.receipts.seenBy(this.log.newestSeq, this.newestAuthor) : [];
    this.context.view.seenBy.textContent = names.length ? `Seen by ${names.join(', ')}` : '';
  }

  private failed(error: unknown): void {
    if (!this.closed) this.context.onError(error);
  }

  private sendTyping(typing: boolean): void {
    const ref = this.presence.selfRef;
    // Before the presence STATE arrives this page has no meta of its own to mark.
    if (!ref) return;
    request(SET_TYPING, { chatId: this.chatId, typing, ref }, this.context.token).catch((error: unknown) => {
      // Typing is a hint: a rate-limited or lost one is simply superseded by the next.
      if (!isTransient(error)) this.context.onError(error);
    });
  }

  private showPage(page: MessagePage): void {
    this.showMessages(page.edges.map((edge) => edge.node));
    this.olderCursor = page.pageInfo.hasPreviousPage ? page.pageInfo.startCursor : null;
    this.context.view.loadOlder.hidden = !this.olderCursor;
  }

  private showMessages(messages: ChatMessage[]): void {
    const list = this.context.view.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < STICKY_BOTTOM_PX;
    let mine = false;
    for (const message of this.log.add(messages)) {
      this.revisions.set(message.id, Math.max(message.revision ?? 0, this.revisions.get(message.id) ?? 0));
      list.insertBefore(this.renderMessage(message), nextBySeq(list, message.seq));
      mine ||= message.user.id === this.context.viewerId;
      if (message.seq === this.log.newestSeq) this.newestAuthor = message.user.id;
    }
    if (atBottom || mine) list.scrollTop = list.scrollHeight;
    // A deleted message still shows (as a tombstone), so only a chat never written in is empty.
    this.context.view.empty.hidden = this.log.newestSeq > 0;
    this.renderSeenBy();
    this.scheduleRead();
  }

  private renderMessage(message: ChatMessage): HTMLLIElement {
    const sent = new Date(message.createdAt);
    const mine = message.user.id === this.context.viewerId;
    const deleted = Boolean(message.deletedAt);
    const meta = el(
      'div',
      { className: 'meta' },
      el('span', { className: 'author', text: message.user.firstName }),
      el('time', {
        text: sent.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
        attrs: { datetime: message.createdAt, title: sent.toLocaleString() },
      }),
    );
    if (message.editedAt && !deleted) meta.append(el('span', { className: 'edited', text: 'edited' }));
    const item = el(
      'li',
      {
        className: `message${mine ? ' mine' : ''}${deleted ? ' deleted' : ''}`,
        attrs: { 'data-seq': String(message.seq), 'data-id': message.id },
      },
      meta,
      el('p', { className: 'content', text: deleted ? MESSAGE_DELETED : message.content }),
    );
    if (!deleted && (mine || this.owner)) {
      const actions = el('div', { className: 'message-actions' });
      if (mine) actions.append(this.action('Edit', () => this.startEdit(item, message)));
      actions.append(this.action('Delete', () => void this.change(DELETE_MESSAGE, { id: message.id })));
      meta.append(actions);
    }
    return item;
  }

  private action(text: string, onClick: () => void): HTMLButtonElement {
    const button = el('button', { text, className: 'link', attrs: { type: 'button' } });
    button.addEventListener('click', onClick);
    return button;
  }

  /** Edits in place: the text becomes a field; Enter saves, Escape gives up. */
  private startEdit(item: HTMLLIElement, message: ChatMessage): void {
    const field = el('textarea', { className: 'edit-field', attrs: { 'aria-label': 'Edit message', rows: '2' } });
    field.value = message.content;
    const form = el(
      'form',
      { className: 'edit-form' },
      field,
      el('button', { text: 'Save', attrs: { type: 'submit' } }),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const content = field.value.trim();
      if (content && content !== message.content) void this.change(EDIT_MESSAGE, { id: message.id, content });
      else item.replaceWith(this.renderMessage(message));
    });
    field.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') item.replaceWith(this.renderMessage(message));
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    item.querySelector('.content')?.replaceWith(form);
    field.focus();
  }

  /** The change shows through messageChanged, as everyone else's does. */
  private async change(query: string, variables: Record<string, unknown>): Promise<void> {
    try {
      await request(query, variables, this.context.token);
    } catch (error) {
      this.context.onError(error);
    }
  }

  private renderMembers(): void {
    const members = this.presence.members();
    this.context.onPresent(members.map((member) => member.userId));
    const typists = members.filter((member) => member.typing && member.userId !== this.context.viewerId);
    this.context.view.typingStatus.textContent = typingSentence(typists.map((member) => member.firstName));
    const items = members.map((member) => {
      const self = member.userId === this.context.viewerId;
      const item = el(
        'li',
        { className: 'member', attrs: { 'data-user-id': member.userId } },
        el('span', { className: 'name', text: self ? `${member.firstName} (you)` : member.firstName }),
      );
      if (member.devices > 1) item.append(el('span', { className: 'devices', text: `${member.devices} devices` }));
      // Your own typing is not news to you.
      if (member.typing && !self) {
        item.append(
          el('span', { className: 'typing', text: '...', attrs: { 'aria-hidden': 'true' } }),
          el('span', { className: 'visually-hidden', text: 'is typing' }),
        );
      }
      return item;
    });
    this.context.view.members.replaceChildren(...items);
  }
}

/** The first shown message with a higher seq (null: append at the end, the usual case for live messages). */
function nextBySeq(list: HTMLOListElement, seq: number): Element | null {
  for (let item = list.lastElementChild; item; item = item.previousElementSibling) {
    if (Number((item as HTMLElement).dataset.seq) < seq) return item.nextElementSibling;
  }
  return list.firstElementChild;
}

function isTransient(error: unknown): error is ApiError {
  return (
    error instanceof ApiError &&
    (error.code === 'NETWORK' || error.code === 'RATE_LIMITED' || /^HTTP_5\d\d$/.test(error.code))
  );
}

/** crypto.randomUUID needs a secure context; a chat opened over plain http on a LAN address has none. */
function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
