import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';

export interface Viewer {
  id: string;
}

/** Issues and verifies the HS256 JWTs that identify a user over HTTP and WebSocket. */
@Injectable()
export class TokenService {
  constructor(private readonly jwt: JwtService) {}

  issue(userId: string): Promise<string> {
    return this.jwt.signAsync({ sub: userId });
  }

  /** The viewer a `Bearer <token>` value names, or null for anything missing, malformed or expired. */
  async verifyBearer(authorization: unknown): Promise<Viewer | null> {
    if (typeof authorization !== 'string' || authorization.length > 4096) return null;
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match) return null;
    try {
      const payload = await this.jwt.verifyAsync<{ sub?: unknown }>(match[1], { algorithms: ['HS256'] });
      return typeof payload.sub === 'string' ? { id: payload.sub } : null;
    } catch {
      return null;
    }
  }
}
