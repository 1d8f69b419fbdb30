import { Args, ID, Int, Mutation, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { MaxItems, Personal, SharedEvents } from '../common/operation-hints';
import { RequestContext } from '../common/request-context';
import { RequestLoader } from '../common/request-loader';
import { UserModel } from '../users/models/user.model';
import { Ctx, CurrentViewer } from '../users/auth.guard';
import { Viewer } from '../users/token.service';
import { PUBLIC_CHATS_LIMIT } from './chats.repository';
import { ChatsService } from './chats.service';
import { PublicChatsFeed } from './public-chats-feed';
import { ReadPositionsService } from './read-positions.service';
import { CreateChatInput } from './dto/create-chat.input';
import { ChatModel, ViewerChatState } from './models/chat.model';
import { ChatMemberModel } from './models/chat-member.model';
import { ChatRole } from './chat-role';
import { MembershipRow, ReadState } from './chats.repository';
import { byViewer, RateLimit } from '../limits/rate-limit.decorator';

@Resolver(() => ChatModel)
export class ChatsResolver {
  private readonly membershipsLoader = new RequestLoader<string, MembershipRow[]>((ids) =>
    this.chats.membershipsOf(ids),
  );
  /** The viewer's read position and role per chat, one query per request. */
  private readonly readStatesLoader = new RequestLoader<string, ReadState | null, RequestContext>((chatIds, ctx) =>
    this.chats.readStates(ctx.viewer!.id, chatIds),
  );

  constructor(
    private readonly chats: ChatsService,
    private readonly readPositionsService: ReadPositionsService,
    private readonly publicChatsFeed: PublicChatsFeed,
  ) {}

  // No hard cap: the cost of a chat list is counted as if the viewer were in this many chats.
  @MaxItems(500)
  @Query(() => [ChatModel], { name: 'chats', description: 'the chats the viewer is a member of' })
  myChats(@CurrentViewer() viewer: Viewer): Promise<ChatModel[]> {
    return this.chats.chatsOf(viewer);
  }

  @MaxItems(PUBLIC_CHATS_LIMIT)
  @Query(() => [ChatModel], {
    description: `public chats anyone may join, newest first, ${PUBLIC_CHATS_LIMIT} at a time (the next ones with after)`,
  })
  publicChats(
    @Args('after', {
      type: () => ID,
      nullable: true,
      description:
        'the id of the last chat of the page before: the ones after it (BAD_USER_INPUT when not a public chat)',
    })
    after?: string | null,
  ): Promise<ChatModel[]> {
    return this.chats.publicChats(after);
  }

  @Query(() => ChatModel, {
    description: 'NOT_FOUND when there is no such chat, FORBIDDEN when the viewer is not a member',
  })
  chat(
    @CurrentViewer() viewer: Viewer,
    @Args('id', { type: () => ID, description: 'the chat' }) id: string,
  ): Promise<ChatModel> {
    return this.chats.getForMember(viewer, id);
  }

  @Mutation(() => ChatModel, { description: 'creates a chat owned by the viewer; BAD_USER_INPUT for a bad roomName' })
  createChat(
    @CurrentViewer() viewer: Viewer,
    @Args('input', { description: 'the new chat' }) input: CreateChatInput,
  ): Promise<ChatModel> {
    return this.chats.create(viewer, input);
  }

  @Mutation(() => ChatModel, {
    description:
      'enters a public chat (idempotent); FORBIDDEN for a private chat the viewer is not in and for a direct chat',
  })
  joinChat(
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID, description: 'the chat to join' }) chatId: string,
  ): Promise<ChatModel> {
    return this.chats.join(viewer, chatId);
  }

  @Mutation(() => ChatModel, {
    description:
      'any member adds someone, by userId or by email (exactly one, BAD_USER_INPUT otherwise); idempotent; FORBIDDEN on a direct chat',
  })
  addMember(
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID, description: 'the chat' }) chatId: string,
    @Args('userId', {
      type: () => ID,
      nullable: true,
      description: 'the id of the person to add (NOT_FOUND when there is no such user)',
    })
    userId?: string | null,
    @Args('email', {
      type: () => String,
      nullable: true,
      description: 'or the email of the person to add (NOT_FOUND when nobody has it)',
    })
    email?: string | null,
  ): Promise<ChatModel> {
    return this.chats.addMember(viewer, chatId, { userId, email });
  }

  @Mutation(() => Boolean, {
    description:
      "owner only (FORBIDDEN otherwise, and on a direct chat); ends the removed member's subscriptions to the chat; removing oneself is leaveChat",
  })
  removeMember(
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID, description: 'the chat' }) chatId: string,
    @Args('userId', { type: () => ID, description: 'the member to remove (NOT_FOUND when not a member)' })
    userId: string,
  ): Promise<boolean> {
    return this.chats.removeMember(viewer, chatId, userId);
  }

  @Mutation(() => ChatModel, { description: 'owner only (FORBIDDEN otherwise, and on a direct chat)' })
  renameChat(
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID, description: 'the chat' }) chatId: string,
    @Args('roomName', { description: "the new name, with createChat's rules: 1–100 characters after trimming" })
    roomName: string,
  ): Promise<ChatModel> {
    return this.chats.rename(viewer, chatId, roomName);
  }

  @Mutation(() => ChatModel, {
    description:
      "the viewer's direct chat with userId, created by the first call of either; BAD_USER_INPUT with oneself",
  })
  directChat(
    @CurrentViewer() viewer: Viewer,
    @Args('userId', { type: () => ID, description: 'the other person (NOT_FOUND when there is no such user)' })
    userId: string,
  ): Promise<ChatModel> {
    return this.chats.directChat(viewer, userId);
  }

  // Not SharedEvents: a chat selects fields that depend on who asks (myRole, members), and these are rare.
  @Subscription(() => ChatModel, {
    description: 'public chats as they are created, for a list of chats to join',
    resolve: (chat: ChatModel) => chat,
  })
  publicChatCreated(@Ctx() ctx: RequestContext): Promise<AsyncIterableIterator<ChatModel>> {
    return this.publicChatsFeed.open(ctx.connection);
  }

  @SharedEvents()
  @Subscription(() => ChatMemberModel, {
    description: "every move of a member's read position in the chat, the viewer's own included; members only",
    resolve: (member: ChatMemberModel) => member,
  })
  readPositions(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID, description: 'the chat' }) chatId: string,
  ): Promise<AsyncIterableIterator<ChatMemberModel>> {
    return this.readPositionsService.open(viewer, chatId, ctx.connection);
  }

  @RateLimit({ limit: 'reads', by: byViewer })
  @Mutation(() => Int, {
    description: "moves the viewer's read position forward to seq (never back); returns the position now",
  })
  markRead(
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID, description: 'the chat' }) chatId: string,
    @Args('seq', {
      type: () => Int,
      description: "the seq of the newest message read, from 0 to the chat's lastSeq (BAD_USER_INPUT beyond)",
    })
    seq: number,
  ): Promise<number> {
    return this.chats.markRead(viewer, chatId, seq);
  }

  @Mutation(() => Boolean, {
    description:
      "leaves the chat, ending the viewer's subscriptions to it on every instance; FORBIDDEN when not a member",
  })
  leaveChat(
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID, description: 'the chat to leave' }) chatId: string,
  ): Promise<boolean> {
    return this.chats.leave(viewer, chatId);
  }

  /** Members are readable by members only; a public chat listed in publicChats shows none to outsiders. */
  // No hard cap: counted as a chat of this many members.
  @MaxItems(1000)
  @ResolveField(() => [UserModel], { description: "the chat's members; members only (FORBIDDEN otherwise)" })
  async members(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
  ): Promise<UserModel[]> {
    return (await this.membershipsOf(ctx, viewer, chat)).map((membership) => membership.user);
  }

  /** Members are readable by members only, as `members`. */
  @MaxItems(1000)
  @ResolveField(() => [ChatMemberModel], { description: 'every member with their role and read position' })
  memberships(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
  ): Promise<ChatMemberModel[]> {
    return this.membershipsOf(ctx, viewer, chat);
  }

  @Personal()
  @ResolveField(() => Int, { description: "the viewer's read position (0 for a non-member)" })
  async lastReadSeq(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
  ): Promise<number> {
    return (await this.viewerState(ctx, chat))?.lastReadSeq ?? 0;
  }

  @Personal()
  @ResolveField(() => Int, { description: 'lastSeq − lastReadSeq' })
  async unreadCount(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
  ): Promise<number> {
    // A non-member's read position is 0: they have read none of it.
    const state = await this.viewerState(ctx, chat);
    return Math.max(0, chat.lastSeq - (state?.lastReadSeq ?? 0));
  }

  @Personal()
  @ResolveField(() => ChatRole, {
    nullable: true,
    description: "the viewer's role; null when the viewer is not a member (publicChats)",
  })
  async myRole(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
  ): Promise<ChatRole | null> {
    return (await this.viewerState(ctx, chat))?.role ?? null;
  }

  private async membershipsOf(ctx: RequestContext, viewer: Viewer, chat: ChatModel): Promise<MembershipRow[]> {
    const memberships = await this.membershipsLoader.load(ctx, chat.id);
    this.chats.assertListed(viewer, memberships);
    return memberships;
  }

  /** The viewer is the context's: every field that asks names @CurrentViewer, which refuses a request without one. */
  private viewerState(ctx: RequestContext, chat: ChatModel): Promise<ViewerChatState | null> {
    if (chat.viewerState) return Promise.resolve(chat.viewerState);
    return this.readStatesLoader.load(ctx, chat.id);
  }
}
