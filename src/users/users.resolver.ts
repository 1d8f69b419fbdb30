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
import { storedEmail, UsersService } from './users.service';
import { byAddress, RateLimit } from '../limits/rate-limit.decorator';

@Resolver(() => UserModel)
export class UsersResolver {
  constructor(private readonly users: UsersService) {}

  @Public()
  @RateLimit({ limit: 'auth', by: byAddress })
  @Mutation(() => AuthPayloadModel, {
    description:
      'creates an account and signs it in; needs no token. BAD_USER_INPUT for a value out of its rules, CONFLICT for a taken email, RATE_LIMITED after too many attempts from one address',
  })
  async signUp(@Args('input', { description: 'the new account' }) input: SignUpInput): Promise<AuthPayloadModel> {
    const result = await this.users.signUp(input);
    return { ...result, user: markViewersOwn(result.user) };
  }

  @Public()
  @RateLimit(
    { limit: 'auth', by: byAddress },
    // Per account, failures only: a password guessed from many addresses is stopped, and the owner signing
    // in does not use up their own allowance.
    { limit: 'authAccount', by: (_, args) => accountKey(args.input), onlyFailures: true },
  )
  @Mutation(() => AuthPayloadModel, {
    description:
      'signs in with email and password; needs no token. UNAUTHENTICATED for a wrong email or password, RATE_LIMITED after too many attempts from one address or failures on one account',
  })
  async signIn(
    @Args('input', { description: 'the email and password' }) input: SignInInput,
  ): Promise<AuthPayloadModel> {
    const result = await this.users.signIn(input);
    return { ...result, user: markViewersOwn(result.user) };
  }

  @Query(() => UserModel, { description: "the viewer's own account" })
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

/**
 * The account a sign-in names: its email as sign-up stored it, the form signIn looks up (null for input that
 * cannot name one, which signIn does not look up either).
 */
function accountKey(input: unknown): string | null {
  const email = (input as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? storedEmail(email) : null;
}
