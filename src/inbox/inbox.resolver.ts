import { Resolver, Subscription } from '@nestjs/graphql';
import { RequestContext } from '../common/request-context';
import { Ctx, CurrentViewer } from '../users/auth.guard';
import { Viewer } from '../users/token.service';
import { InboxDelivery, InboxService } from './inbox.service';
import { SharedEvents } from '../common/operation-hints';
import { ownView } from '../common/shared-event';
import { InboxEventModel } from './models/inbox-event.model';

@Resolver(() => InboxEventModel)
export class InboxResolver {
  constructor(private readonly inboxes: InboxService) {}

  @SharedEvents()
  @Subscription(() => InboxEventModel, {
    description:
      "the viewer's chat list, live: first an event for each of their chats, then one whenever one of them changes, an edit or delete of its newest message included (same lastSeq, higher lastMessage.revision)",
    resolve: (event: InboxDelivery) => ownView(event),
  })
  inbox(@Ctx() ctx: RequestContext, @CurrentViewer() viewer: Viewer): Promise<AsyncIterableIterator<InboxDelivery>> {
    return this.inboxes.open(viewer, ctx.connection);
  }
}
