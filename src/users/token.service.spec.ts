import { JwtService } from '@nestjs/jwt';
import { createSecretKey } from 'node:crypto';
import { TokenService } from './token.service';

const key = (secret: string) => createSecretKey(Buffer.from(secret, 'utf8'));

describe('TokenService', () => {
  const jwt = new JwtService({ secret: key('s'.repeat(32)), signOptions: { algorithm: 'HS256', expiresIn: 60 } });
  let tokens: TokenService;

  beforeEach(() => {
    tokens = new TokenService(jwt);
  });

  afterEach(() => jest.restoreAllMocks());

  it('names the viewer of a valid bearer token, again and again', async () => {
    const token = await tokens.issue('user-1');
    expect(await tokens.verifyBearer(`Bearer ${token}`)).toMatchObject({ id: 'user-1' });
    const verify = jest.spyOn(jwt, 'verifyAsync');
    expect(await tokens.verifyBearer(`bearer  ${token}`)).toMatchObject({ id: 'user-1' });
    // Remembered: the signature is not checked a second time.
    expect(verify).not.toHaveBeenCalled();
  });

  it('does not remember a token checked with remember: false (a WebSocket connection)', async () => {
    const token = await tokens.issue('user-1');
    expect(await tokens.verifyBearer(`Bearer ${token}`, { remember: false })).toMatchObject({ id: 'user-1' });
    const verify = jest.spyOn(jwt, 'verifyAsync');
    expect(await tokens.verifyBearer(`Bearer ${token}`)).toMatchObject({ id: 'user-1' });
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('refuses a remembered token once it has expired', async () => {
    const token = await tokens.issue('user-1');
    expect(await tokens.verifyBearer(`Bearer ${token}`)).toMatchObject({ id: 'user-1' });
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    expect(await tokens.verifyBearer(`Bearer ${token}`)).toBeNull();
  });

  it('refuses tokens signed with another key, altered, or malformed', async () => {
    const other = new JwtService({ secret: key('x'.repeat(32)), signOptions: { algorithm: 'HS256', expiresIn: 60 } });
    const foreign = await other.signAsync({ sub: 'user-1' });
    const token = await tokens.issue('user-1');
    await tokens.verifyBearer(`Bearer ${token}`);
    const [head, , signature] = token.split('.');
    const altered = `${head}.${Buffer.from('{"sub":"user-2","exp":9999999999}').toString('base64url')}.${signature}`;
    for (const value of [`Bearer ${foreign}`, `Bearer ${altered}`, 'Bearer a.b.c', token, '', undefined, 42]) {
      expect(await tokens.verifyBearer(value)).toBeNull();
    }
  });
});
