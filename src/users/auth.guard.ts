import { CanActivate, ExecutionContext, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { UnauthenticatedError } from '../common/errors';
import { RequestContext } from '../common/request-context';
import { Viewer } from './token.service';

const IS_PUBLIC = 'isPublic';

/** Marks the few operations (sign-up, sign-in) that work without a token. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** Global guard: every GraphQL operation needs a viewer unless it is @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType<string>() !== 'graphql') return true;
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    if (!GqlExecutionContext.create(context).getContext<RequestContext>().viewer) throw new UnauthenticatedError();
    return true;
  }
}

/** The authenticated viewer; only on guarded operations, where it is always set. */
export const CurrentViewer = createParamDecorator((_: unknown, context: ExecutionContext): Viewer => {
  const viewer = GqlExecutionContext.create(context).getContext<RequestContext>().viewer;
  if (!viewer) throw new UnauthenticatedError();
  return viewer;
});

export const Ctx = createParamDecorator((_: unknown, context: ExecutionContext): RequestContext =>
  GqlExecutionContext.create(context).getContext<RequestContext>(),
);
