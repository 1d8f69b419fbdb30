import { GraphQLError, parse } from 'graphql';
import { QueryFailedError } from 'typeorm';
import { errorForLog, errorMessage } from './log-errors';

describe('errorMessage', () => {
  it('gives an error’s message, never the document lines its string form quotes', () => {
    const document = parse('mutation { signIn(input: { email: "a@b.co", password: "hunter2-secret" }) { token } }');
    const error = new GraphQLError('Something about it', { nodes: document.definitions[0] });
    expect(String(error)).toContain('hunter2-secret');
    expect(errorMessage(error)).toBe('Something about it');
    // What is already text (Apollo's own log lines) is cut at its first line.
    expect(errorMessage(`Unexpected error processing request: ${String(error)}`)).toBe(
      'Unexpected error processing request: Something about it',
    );
  });
});

describe('errorForLog', () => {
  it('keeps what an error is and where, and none of the values it carries', () => {
    const driverError = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    const error = new QueryFailedError('SELECT * FROM users WHERE email = $1', ['ann@example.com'], driverError);
    const logged = errorForLog(error);
    expect(Object.keys(logged).sort()).toEqual(['message', 'stack', 'type']);
    expect(logged).toMatchObject({ type: 'QueryFailedError', message: driverError.message });
    expect(JSON.stringify(logged)).not.toContain('ann@example.com');
    expect(JSON.stringify(logged)).not.toContain('SELECT');
  });
});
