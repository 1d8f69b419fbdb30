import { ApiError } from './api';
import { describeError } from './errors';

describe('describeError', () => {
  it('never shows a bare error code', () => {
    const codes = ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'CONFLICT', 'RATE_LIMITED'];
    for (const code of [...codes, 'NETWORK', 'HTTP_502', 'HTTP_413', 'INTERNAL_SERVER_ERROR', 'SOMETHING_NEW']) {
      expect(describeError(new ApiError(code, ''))).not.toMatch(/[A-Z]{2,}_|[A-Z]{5,}/);
      expect(describeError(new ApiError(code, 'Some server text'))).not.toContain(code);
    }
  });

  it('tells a failed sign-in apart from an ended session', () => {
    expect(describeError(new ApiError('UNAUTHENTICATED', 'invalid email or password'))).toBe(
      'Wrong email or password.',
    );
    expect(describeError(new ApiError('UNAUTHENTICATED', 'Authentication required'))).toBe(
      'Your session has ended. Sign in again.',
    );
  });

  it('keeps the server’s message where it names the problem, as a sentence', () => {
    expect(describeError(new ApiError('FORBIDDEN', 'only the owner renames the chat'))).toBe(
      'Only the owner renames the chat.',
    );
    expect(describeError(new ApiError('NOT_FOUND', 'nobody has this email'))).toBe('Nobody has this email.');
    expect(describeError(new ApiError('CONFLICT', 'email is already registered'))).toBe('Email is already registered.');
    expect(describeError(new ApiError('BAD_USER_INPUT', 'password must be at least 8 characters'))).toBe(
      'Password must be at least 8 characters.',
    );
  });

  it('replaces graphql-js’s wording about variables, which means nothing to a person', () => {
    const message = 'Variable "$input" got invalid value "" at "input.roomName"; Expected non-nullable type';
    expect(describeError(new ApiError('BAD_USER_INPUT', message))).toBe('Something in what you entered is not valid.');
  });

  it('says how long to wait when rate limited', () => {
    expect(describeError(new ApiError('RATE_LIMITED', 'Too many requests, slow down', 2400))).toBe(
      'You’re going a bit fast. Try again in 3 seconds.',
    );
    expect(describeError(new ApiError('RATE_LIMITED', 'Too many requests, slow down', 300))).toBe(
      'You’re going a bit fast. Try again in 1 second.',
    );
    expect(describeError(new ApiError('RATE_LIMITED', 'Too many requests, slow down'))).toBe(
      'You’re going a bit fast. Try again in a moment.',
    );
  });

  it('words what arrives over the live connection the same way', () => {
    const errors = [
      { message: 'you are not a member of this chat', extensions: { code: 'FORBIDDEN' } },
      { message: 'you are not a member of this chat', extensions: { code: 'FORBIDDEN' } },
    ];
    expect(describeError(errors)).toBe('You are not a member of this chat.');
    expect(describeError({ message: 'Too many', extensions: { code: 'RATE_LIMITED', retryAfterMs: 5000 } })).toBe(
      'You’re going a bit fast. Try again in 5 seconds.',
    );
    expect(describeError({ code: 4403, reason: 'Forbidden' })).toBe('Your session has ended. Sign in again.');
    expect(describeError({ code: 1006, reason: '' })).toMatch(/connection was lost/);
  });

  it('passes the page’s own sentences through', () => {
    expect(describeError('Enter your name to sign up.')).toBe('Enter your name to sign up.');
  });
});
