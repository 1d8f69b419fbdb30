import { Resolver, Subscription } from '@nestjs/graphql';
import { RequestContext } from '../common/request-context';
import { Ctx, CurrentViewer } from '../users/auth.guard';
import { Viewer } from '../users/token.service';
import { InboxService } from './inbox.service';
import { InboxEventModel } from './models/inbox-event.model';

@Resolver(() => InboxEventModel)
export class InboxResolver {
  constructor(private readonly inboxes: InboxService) {}

  @Subscription(() => InboxEventModel, {
    description: "the viewer's chat list as it changes",
    resolve: (event: InboxEventModel) => event,
  })
  inbox(@Ctx() ctx: RequestContext, @CurrentViewer() viewer: Viewer): Promise<AsyncIterableIterator<InboxEventModel>> {
    return this.inboxes.open(viewer, ctx.connection);
  }
}
