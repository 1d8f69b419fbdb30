import { Args, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { MaxItems } from '../common/operation-hints';
import { RequestContext } from '../common/request-context';
import { RequestLoader } from '../common/request-loader';
import { UserModel } from '../users/models/user.model';
import { Ctx, CurrentViewer } from '../users/auth.guard';
import { Viewer } from '../users/token.service';
import { PUBLIC_CHATS_LIMIT } from './chats.repository';
import { ChatsService } from './chats.service';
import { CreateChatInput } from './dto/create-chat.input';
import { ChatModel } from './models/chat.model';

@Resolver(() => ChatModel)
export class ChatsResolver {
  private readonly membersLoader = new RequestLoader<string, UserModel[]>((ids) => this.chats.membersOf(ids));

  constructor(private readonly chats: ChatsService) {}

  // No hard cap: the cost of a chat list is counted as if the viewer were in this many chats.
  @MaxItems(500)
  @Query(() => [ChatModel], { name: 'chats', description: 'the chats the viewer is a member of' })
  myChats(@CurrentViewer() viewer: Viewer): Promise<ChatModel[]> {
    return this.chats.chatsOf(viewer);
  }

  @MaxItems(PUBLIC_CHATS_LIMIT)
  @Query(() => [ChatModel], { description: 'public chats anyone may join' })
  publicChats(): Promise<ChatModel[]> {
    return this.chats.publicChats();
  }

  @Query(() => ChatModel, {
    description: 'NOT_FOUND when there is no such chat, FORBIDDEN when the viewer is not a member',
  })
  chat(@CurrentViewer() viewer: Viewer, @Args('id', { type: () => ID }) id: string): Promise<ChatModel> {
    return this.chats.getForMember(viewer, id);
  }

  @Mutation(() => ChatModel)
  createChat(@CurrentViewer() viewer: Viewer, @Args('input') input: CreateChatInput): Promise<ChatModel> {
    return this.chats.create(viewer, input);
  }

  @Mutation(() => ChatModel)
  joinChat(@CurrentViewer() viewer: Viewer, @Args('chatId', { type: () => ID }) chatId: string): Promise<ChatModel> {
    return this.chats.join(viewer, chatId);
  }

  @Mutation(() => ChatModel)
  addMember(
    @CurrentViewer() viewer: Viewer,
    @Args('chatId', { type: () => ID }) chatId: string,
    @Args('userId', { type: () => ID }) userId: string,
  ): Promise<ChatModel> {
    return this.chats.addMember(viewer, chatId, userId);
  }

  @Mutation(() => Boolean)
  leaveChat(@CurrentViewer() viewer: Viewer, @Args('chatId', { type: () => ID }) chatId: string): Promise<boolean> {
    return this.chats.leave(viewer, chatId);
  }

  /** Members are readable by members only; a public chat listed in publicChats shows none to outsiders. */
  // No hard cap: counted as a chat of this many members.
  @MaxItems(1000)
  @ResolveField(() => [UserModel])
  async members(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Parent() chat: ChatModel,
  ): Promise<UserModel[]> {
    const members = await this.membersLoader.load(ctx, chat.id);
    this.chats.assertListed(viewer, members);
    return members;
  }
}
