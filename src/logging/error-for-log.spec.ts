import { QueryFailedError } from 'typeorm';
import { errorForLog } from './logging.module';

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
