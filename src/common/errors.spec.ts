import { GraphQLError, parse } from 'graphql';
import { errorMessage } from './errors';

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
