/**
 * The open chat's members and what the viewer may do with them: everyone sees the members and may message one
 * of them directly or leave; any member adds someone by email; the owner renames the chat and removes members.
 * A direct chat is never renamed and nobody is added to or removed from it.
 */
import { request } from './api';
import { el } from './dom';
import {
  ADD_MEMBER_BY_EMAIL,
  DIRECT_CHAT,
  DirectChatResult,
  LEAVE_CHAT,
  REMOVE_MEMBER,
  RENAME_CHAT,
  ROSTER,
  RosterResult,
} from './operations';

export interface AdminView {
  panel: HTMLElement;
  roster: HTMLUListElement;
  addForm: HTMLFormElement;
  renameForm: HTMLFormElement;
  leave: HTMLButtonElement;
}

export interface AdminContext {
  token: string;
  viewerId: string;
  view: AdminView;
  onError: (error: unknown) => void;
  /** The chat's name changed, or the viewer left: the page refreshes its lists and title. */
  onChanged: (change: { renamed?: string; left?: boolean }) => void;
  /** Opens another chat (a direct chat just started). */
  onOpen: (chatId: string) => void;
}

export class ChatAdmin {
  private readonly listeners: [EventTarget, string, EventListener][] = [];
  private closed = false;
  /** Who the roster lists now, and whether a reload is on its way. */
  private listed = new Set<string>();
  private loading: Promise<void> | null = null;
  /** Who presence last showed here. */
  private present = new Set<string>();

  constructor(
    readonly chatId: string,
    private readonly context: AdminContext,
  ) {
    const { view } = context;
    this.listen(view.addForm, 'submit', (event) => {
      event.preventDefault();
      const email = field(view.addForm, 'email');
      this.act(ADD_MEMBER_BY_EMAIL, { chatId, email }).then(() => view.addForm.reset(), context.onError);
    });
    this.listen(view.renameForm, 'submit', (event) => {
      event.preventDefault();
      const roomName = field(view.renameForm, 'roomName');
      this.act(RENAME_CHAT, { chatId, roomName }).then(() => {
        view.renameForm.reset();
        context.onChanged({ renamed: roomName.trim() });
      }, context.onError);
    });
    this.listen(view.leave, 'click', () => {
      request(LEAVE_CHAT, { chatId }, context.token).then(() => context.onChanged({ left: true }), context.onError);
    });
  }

  /**
   * The roster has no subscription of its own; presence shows its changes first. Someone is here who the roster
   * does not list (they joined or were added since it was read), or a listed member has just gone (they may have
   * left or been removed, or only closed the page): the roster is read again. A member gone while a read is on
   * its way is read again after it, as that read may have been answered before they left.
   */
  presenceChanged(userIds: readonly string[]): void {
    const before = this.present;
    this.present = new Set(userIds);
    if (this.closed) return;
    const gone = [...before].some((id) => !this.present.has(id) && this.listed.has(id));
    if (gone) {
      // After any read on its way (whose own failure is its caller's to report).
      void (this.loading ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => this.load())
        .catch(this.context.onError);
    } else if (!this.loading && userIds.some((id) => !this.listed.has(id))) {
      this.load().catch(this.context.onError);
    }
  }

  /** Reads the roster and shows it; a read already on its way is the one waited for. */
  load(): Promise<void> {
    this.loading ??= this.read().finally(() => (this.loading = null));
    return this.loading;
  }

  private async read(): Promise<void> {
    const { chat } = await request<RosterResult>(ROSTER, { id: this.chatId }, this.context.token);
    if (this.closed) return;
    this.listed = new Set(chat.memberships.map(({ user }) => user.id));
    const { view, viewerId } = this.context;
    const owner = chat.myRole === 'OWNER';
    view.panel.hidden = false;
    view.addForm.hidden = chat.isDirect;
    view.renameForm.hidden = chat.isDirect || !owner;
    view.roster.replaceChildren(
      ...chat.memberships.map(({ user, role }) => {
        const self = user.id === viewerId;
        const item = el(
          'li',
          { attrs: { 'data-user-id': user.id } },
          el('span', { className: 'name', text: self ? `${user.firstName} (you)` : user.firstName }),
        );
        if (role === 'OWNER') item.append(el('span', { className: 'badge', text: 'owner' }));
        if (!self) item.append(this.button(`Message ${user.firstName}`, 'Message', () => this.message(user.id)));
        if (!self && owner && !chat.isDirect) {
          item.append(
            this.button(`Remove ${user.firstName}`, 'Remove', () =>
              this.act(REMOVE_MEMBER, { chatId: this.chatId, userId: user.id }).catch(this.context.onError),
            ),
          );
        }
        return item;
      }),
    );
  }

  close(): void {
    this.closed = true;
    for (const [target, type, listener] of this.listeners.splice(0)) target.removeEventListener(type, listener);
    this.context.view.panel.hidden = true;
    this.context.view.roster.replaceChildren();
  }

  /** A change, then the roster as it now stands. */
  private async act(query: string, variables: Record<string, unknown>): Promise<void> {
    await request(query, variables, this.context.token);
    await this.load();
  }

  private message(userId: string): void {
    request<DirectChatResult>(DIRECT_CHAT, { userId }, this.context.token).then(
      ({ directChat }) => this.context.onOpen(directChat.id),
      this.context.onError,
    );
  }

  private button(label: string, text: string, onClick: () => unknown): HTMLButtonElement {
    const button = el('button', { text, attrs: { type: 'button', 'aria-label': label } });
    button.addEventListener('click', () => void onClick());
    return button;
  }

  private listen(target: EventTarget, type: string, listener: EventListener): void {
    target.addEventListener(type, listener);
    this.listeners.push([target, type, listener]);
  }
}

function field(form: HTMLFormElement, name: string): string {
  const value = new FormData(form).get(name);
  return typeof value === 'string' ? value : '';
}
