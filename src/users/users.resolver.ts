import { Args, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { NotFoundError } from '../common/errors';
import { markViewersOwn, ownValue } from '../common/own-value';
import { RequestContext } from '../common/request-context';
import { Ctx, CurrentViewer, Public } from './auth.guard';
import { SignInInput } from './dto/sign-in.input';
import { SignUpInput } from './dto/sign-up.input';
import { AuthPayloadModel } from './models/auth-payload.model';
import { UserModel } from './models/user.model';
import { Viewer } from './token.service';
import { UsersService } from './users.service';

@Resolver(() => UserModel)
export class UsersResolver {
  constructor(private readonly users: UsersService) {}

  @Public()
  @Mutation(() => AuthPayloadModel)
  async signUp(@Ctx() ctx: RequestContext, @Args('input') input: SignUpInput): Promise<AuthPayloadModel> {
    const result = await this.users.signUp(ctx.clientKey, input);
    return { ...result, user: markViewersOwn(result.user) };
  }

  @Public()
  @Mutation(() => AuthPayloadModel)
  async signIn(@Ctx() ctx: RequestContext, @Args('input') input: SignInInput): Promise<AuthPayloadModel> {
    const result = await this.users.signIn(ctx.clientKey, input);
    return { ...result, user: markViewersOwn(result.user) };
  }

  @Query(() => UserModel)
  async me(@CurrentViewer() viewer: Viewer): Promise<UserModel> {
    const user = await this.users.getById(viewer.id);
    if (!user) throw new NotFoundError('user not found');
    return user;
  }

  @ResolveField(() => String, { nullable: true, description: "the viewer's own email; null for any other user" })
  email(@Ctx() ctx: RequestContext, @Parent() user: UserModel): string | null {
    return ownValue(ctx, user, user.id, user.email);
  }
}
