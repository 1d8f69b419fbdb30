import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { NotFoundError } from '../common/errors';
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
  signUp(@Ctx() ctx: RequestContext, @Args('input') input: SignUpInput): Promise<AuthPayloadModel> {
    return this.users.signUp(ctx.clientKey, input);
  }

  @Public()
  @Mutation(() => AuthPayloadModel)
  signIn(@Ctx() ctx: RequestContext, @Args('input') input: SignInInput): Promise<AuthPayloadModel> {
    return this.users.signIn(ctx.clientKey, input);
  }

  @Query(() => UserModel)
  async me(@CurrentViewer() viewer: Viewer): Promise<UserModel> {
    const user = await this.users.getById(viewer.id);
    if (!user) throw new NotFoundError('user not found');
    return user;
  }
}
