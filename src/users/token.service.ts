import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';

export interface Viewer {
  id: string;
  /** When the token that named this viewer expires (ms since the epoch), when it does. */
  expiresAtMs?: number;
}

const VERIFIED_CAP = 10_000;

/** Issues and verifies the HS256 JWTs that identify a user over HTTP and WebSocket. */
@Injectable()
export class TokenService {
  /**
   * Tokens already verified, with their expiry: a client sends the same token with every request, and checking
   * a signature costs more than the rest of a small request's authentication. A signature's validity never
   * changes, so the one thing to re-check is the clock. Bounded; past the cap the oldest entries go.
   */
  private readonly verified = new Map<string, { viewer: Viewer; expiresAtMs: number }>();

  constructor(private readonly jwt: JwtService) {}

  issue(userId: string): Promise<string> {
    return this.jwt.signAsync({ sub: userId });
  }

  /**
   * The viewer a `Bearer <token>` value names, or null for anything missing, malformed or expired. `remember:
   * false` is for a token checked once per connection (a WebSocket's): caching it would only cost memory.
   */
  async verifyBearer(authorization: unknown, { remember = true } = {}): Promise<Viewer | null> {
    if (typeof authorization !== 'string' || authorization.length > 4096) return null;
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match) return null;
    const token = match[1];
    const known = this.verified.get(token);
    if (known) {
      if (Date.now() < known.expiresAtMs) return known.viewer;
      this.verified.delete(token);
    }
    try {
      const payload = await this.jwt.verifyAsync<{ sub?: unknown; exp?: unknown }>(token, { algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string') return null;
      const expiresAtMs = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
      const viewer: Viewer = { id: payload.sub, expiresAtMs };
      if (remember && expiresAtMs !== undefined) this.remember(token, viewer, expiresAtMs);
      return viewer;
    } catch {
      return null;
    }
  }

  private remember(token: string, viewer: Viewer, expiresAtMs: number): void {
    if (this.verified.size >= VERIFIED_CAP) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, { viewer, expiresAtMs });
  }
}
