import { GraphQLError } from 'graphql';
import { AppConfig } from '../config/app-config';
import { ErrorFormatter } from './format-error';

describe('ErrorFormatter', () => {
  const formatter = new ErrorFormatter(AppConfig.fromEnvironment({ JWT_SECRET: 'x'.repeat(32) }));
  const asResolverError = (original: Error) =>
    new GraphQLError(original.message, { path: ['createChat'], originalError: original });
  const driverError = (code: string, constraint: string) =>
    Object.assign(new Error(`violates constraint "${constraint}"`), { code, constraint });

  it('answers a write that named a deleted user with UNAUTHENTICATED, without the driver text', () => {
    const error = asResolverError(driverError('23503', 'chat_members_user_id_fkey'));
    expect(formatter.format(error.toJSON(), error)).toEqual({
      message: 'Account no longer exists',
      path: ['createChat'],
      locations: undefined,
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('keeps any other constraint violation an internal error', () => {
    const error = asResolverError(driverError('23503', 'messages_chat_id_fkey'));
    const formatted = formatter.format(error.toJSON(), error);
    expect(formatted.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect(formatted.message).toBe('Internal server error');
  });

  it('keeps schema names out of a variable error when suggestions are off, and cuts a long message', () => {
    const production = new ErrorFormatter(
      AppConfig.fromEnvironment({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }),
    );
    const message = `Variable "$input" got invalid value { ${'x'.repeat(600)} }; Field "emial" is not defined by type "SignUpInput". Did you mean "email"?`;
    const error = new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
    const suggested = formatter.format(error.toJSON(), error).message;
    expect(suggested).toHaveLength(501);
    expect(production.format({ message: message.slice(600), extensions: { code: 'BAD_USER_INPUT' } }, error)).toEqual({
      message: message.slice(600).replace(' Did you mean "email"?', ''),
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });
});
