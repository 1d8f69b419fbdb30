import { Args, Mutation, Parent, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { ChatModel } from '../chats/models/chat.model';
import { MaxItems, SharedEvents } from '../common/operation-hints';
import { ownValue } from '../common/own-value';
import { RequestContext } from '../common/request-context';
import { Ctx, CurrentViewer } from '../users/auth.guard';
import { Viewer } from '../users/token.service';
import { PresenceArgs, SetTypingArgs } from './dto/presence.args';
import { PresenceGroup } from './presence-meta';
import { ownView } from '../common/shared-event';
import { PresenceDelivery, PresenceService } from './presence.service';
import { PRESENT_USERS_COUNTED, PresenceEventModel, PresenceMetaModel, PresenceModel } from './models/presence.model';
import { byViewer, RateLimit } from '../limits/rate-limit.decorator';

@Resolver(() => PresenceEventModel)
export class PresenceResolver {
  constructor(private readonly presence: PresenceService) {}

  @SharedEvents()
  @Subscription(() => PresenceEventModel, {
    name: 'presence',
    description:
      "who is in the chat: STATE, then DIFFs; with track, this connection's meta leaves when the subscription ends",
    resolve: (event: PresenceDelivery) => ownView(event),
  })
  presenceEvents(
    @Ctx() ctx: RequestContext,
    @CurrentViewer() viewer: Viewer,
    @Args() args: PresenceArgs,
  ): Promise<AsyncIterableIterator<PresenceDelivery>> {
    return this.presence.open(viewer, args.chatId, args.track ?? true, ctx.connection);
  }

  @RateLimit({ limit: 'typing', by: byViewer })
  @Mutation(() => Boolean, {
    description:
      "sets typing on the caller's metas in the chat, as one DIFF; returns whether any meta changed (false with none)",
  })
  setTyping(@CurrentViewer() viewer: Viewer, @Args() args: SetTypingArgs): Promise<boolean> {
    return this.presence.setTyping(viewer, args.chatId, args.typing, args.ref);
  }
}

/** Chat.presence belongs to this module: it is where presence is read. */
@Resolver(() => ChatModel)
export class ChatPresenceResolver {
  constructor(private readonly presenceService: PresenceService) {}

  @MaxItems(PRESENT_USERS_COUNTED)
  @ResolveField(() => [PresenceModel], {
    description: 'who is here now: one Presence per user, one meta per tracked connection',
  })
  presence(@CurrentViewer() viewer: Viewer, @Parent() chat: ChatModel): Promise<PresenceGroup[]> {
    return this.presenceService.read(viewer, chat.id);
  }
}

/** PresenceMeta.email: the viewer's own, null in anyone else's meta. */
@Resolver(() => PresenceMetaModel)
export class PresenceMetaResolver {
  @ResolveField(() => String, { nullable: true, description: "the viewer's own email; null in anyone else's meta" })
  email(@Ctx() ctx: RequestContext, @Parent() meta: PresenceMetaModel): string | null {
    return ownValue(ctx, meta, meta.userId, meta.email);
  }
}
