import { Args, ID, Mutation, Parent, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { ChatModel } from '../chats/models/chat.model';
import { Paginated, SharedEvents } from '../common/operation-hints';
import { RequestContext } from '../common/request-context';
import { RequestLoader } from '../common/request-loader';
import { Ctx, CurrentViewer } from '../users/auth.guard';
import { Viewer } from '../users/token.service';
import { MessageAddedArgs } from './dto/message-added.args';
import { MessageChangedArgs } from './dto/message-changed.args';
import { MessagesArgs } from './dto/messages.args';
import { SendMessageInput } from './dto/send-message.input';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './message-page';
import { MessageRecord } from './message-record';
import { MessageStreamsService } from './message-streams.service';
import { MessagesService } from './messages.service';
import { MessageConnectionModel } from './models/message-connection.model';
import { MessageModel } from './models/message.model';
import { byViewer, RateLimit } from '../limits/rate-limit.decorator';

@Resolver(() => MessageModel)
export class MessagesResolver {
  constructor(
    private readonly messages: MessagesService,
    private readonly streams: MessageStreamsService,
  ) {}

  @RateLimit({ limit: 'messages', by: byViewer })
  @Mutation(() => MessageModel, {
    description:
      "commits a message, then delivers it to every messageAdded subscriber of the chat; moves the sender's read position to it and clears their typing",
  })
  sendMessage(
    @CurrentViewer() viewer: Viewer,
    @Args('input', { description: 'the message' }) input: SendMessageInput,
  ): Promise<MessageModel> {
    return this.messages.send(viewer, input);
  }

  @SharedEvents()
  @Subscription(() => MessageModel, {
    description:
      "the chat's new messages, each once, seq going up by exactly 1; ends when the viewer leaves or is removed",
    resolve: (message: MessageRecord) => message,
  })
  messageAdded(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Args() args: MessageAddedArgs,
  ): Promise<AsyncIterableIterator<MessageRecord>> {
    return this.streams.open('messageAdded', viewer, args.chatId, args.afterSeq, ctx.connection);
  }

  @RateLimit({ limit: 'messages', by: byViewer })
  @Mutation(() => MessageModel, {
    description:
      'author only (FORBIDDEN otherwise); sets editedAt and the next revision; CONFLICT for a deleted message',
  })
  editMessage(
    @CurrentViewer() viewer: Viewer,
    @Args('id', { type: () => ID, description: 'the message' }) id: string,
    @Args('content', { description: "the new content, with sendMessage's rules" }) content: string,
  ): Promise<MessageModel> {
    return this.messages.edit(viewer, id, content);
  }

  @RateLimit({ limit: 'messages', by: byViewer })
  @Mutation(() => MessageModel, {
    description:
      "the author, or the chat's owner; leaves a tombstone (empty content, deletedAt set) with the next revision; idempotent",
  })
  deleteMessage(
    @CurrentViewer() viewer: Viewer,
    @Args('id', { type: () => ID, description: 'the message' }) id: string,
  ): Promise<MessageModel> {
    return this.messages.delete(viewer, id);
  }

  @SharedEvents()
  @Subscription(() => MessageModel, {
    description: "edits and deletes of the chat's messages, each message in its newest state, revisions going up",
    resolve: (message: MessageRecord) => message,
  })
  messageChanged(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Args() args: MessageChangedArgs,
  ): Promise<AsyncIterableIterator<MessageRecord>> {
    return this.streams.open('messageChanged', viewer, args.chatId, args.afterRevision, ctx.connection);
  }
}

/** Chat.messages belongs to this module: it is where messages are read. */
@Resolver(() => ChatModel)
export class ChatMessagesResolver {
  /** Each chat's newest message, for chats the viewer is in; one query per request. */
  private readonly lastMessages = new RequestLoader<string, MessageRecord | null, RequestContext>((chatIds, ctx) =>
    this.messageService.lastMessages(ctx.viewer!.id, chatIds),
  );

  constructor(private readonly messageService: MessagesService) {}

  @ResolveField(() => MessageModel, {
    nullable: true,
    description:
      'the newest message as it is now (edited, or a tombstone with deletedAt); null when there is none or the viewer is not a member',
  })
  lastMessage(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
  ): Promise<MessageRecord | null> {
    const known = chat.viewerState?.lastMessage;
    if (known !== undefined) return Promise.resolve(known as MessageRecord | null);
    return chat.lastSeq === 0 ? Promise.resolve(null) : this.lastMessages.load(ctx, chat.id);
  }

  @Paginated(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
  @ResolveField(() => MessageConnectionModel, {
    description:
      'Relay-style, oldest first within a page; first/after pages forward from the oldest, last/before backward from the newest; default 20 newest, at most 100 per page; first with last is BAD_USER_INPUT',
  })
  messages(
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
    @Args() args: MessagesArgs,
  ): Promise<MessageConnectionModel> {
    return this.messageService.page(viewer, chat.id, args);
  }
}
