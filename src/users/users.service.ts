import { Injectable, OnModuleInit } from '@nestjs/common';
import * as argon2 from 'argon2';
import { AppConfig } from '../config/app-config';
import { BadInputError, ConflictError, UnauthenticatedError } from '../common/errors';
import { checkText } from '../common/text';
import { isUuid } from '../common/uuid';
import { DatabaseNotifications } from '../database/database-notifications';
import { SignInInput } from './dto/sign-in.input';
import { SignUpInput } from './dto/sign-up.input';
import { UserEntity } from './user.entity';
import { UsersRepository } from './users.repository';
import { TokenService, Viewer } from './token.service';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const EMAIL_RULE = { min: 3, max: 254 };
const PASSWORD_RULE = { min: 8, max: 200, trim: false };
const KNOWN_USERS_CAP = 100_000;
/** The channel the users table's trigger announces deletions on (see the user-deleted-notify migration). */
const USER_DELETED = 'user_deleted';

export interface AuthResult {
  token: string;
  user: UserEntity;
}

/** Accounts: sign-up, sign-in, and turning a bearer token into a viewer. */
@Injectable()
export class UsersService implements OnModuleInit {
  /**
   * Users seen to exist, sparing a query per request. A deleted account leaves it at once (the database announces
   * every deletion); `forgotten` counts those evictions, so a lookup that raced one does not put its user back.
   */
  private readonly knownUserIds = new Set<string>();
  private forgotten = 0;
  private readonly goneListeners = new Set<(userId: string | null) => void>();
  private readonly hashOptions: argon2.HashOptions & { raw?: false };

  constructor(
    private readonly users: UsersRepository,
    private readonly tokens: TokenService,
    private readonly notifications: DatabaseNotifications,
    config: AppConfig,
  ) {
    this.hashOptions = {
      type: argon2.argon2id,
      memoryCost: config.passwordHash.memoryCost,
      timeCost: config.passwordHash.timeCost,
      parallelism: 1,
    };
  }

  async onModuleInit(): Promise<void> {
    await this.notifications.listen(USER_DELETED, {
      notified: (userId) => this.forget(userId),
      missed: () => this.forget(null),
    });
  }

  /**
   * Calls `listener` with the id of every account deleted from now on, on whichever instance it was deleted, or
   * with null when a deletion may have gone unheard (then every id held must be checked with existingIds).
   */
  onAccountGone(listener: (userId: string | null) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  /** Which of these users still exist. */
  existingIds(ids: readonly string[]): Promise<Set<string>> {
    return this.users.existingIds(ids.filter(isUuid));
  }

  async signUp(input: SignUpInput): Promise<AuthResult> {
    const email = normalizeEmail(input.email);
    const checks = {
      email: checkText('email', email, EMAIL_RULE),
      firstName: checkText('firstName', input.firstName, { min: 1, max: 100 }),
      password: checkText('password', input.password, PASSWORD_RULE),
    };
    const problems = Object.values(checks).flatMap((check) => ('problem' in check ? [check.problem] : []));
    if (!EMAIL.test(email)) problems.unshift('email must be a valid address');
    if (problems.length || 'problem' in checks.firstName) throw new BadInputError(problems.join('; '));
    const firstName = checks.firstName.value;

    const passwordHash = await argon2.hash(input.password, this.hashOptions);
    const user = await this.users.insert({ email, firstName, passwordHash });
    if (!user) throw new ConflictError('email is already registered');
    this.rememberUser(user.id);
    return { token: await this.tokens.issue(user.id), user };
  }

  async signIn(input: SignInInput): Promise<AuthResult> {
    const email = storedEmail(input.email);
    // What sign-up could not have stored is not looked up; counted as sign-up counts it (code points).
    const storable = email !== null && 'value' in checkText('password', input.password, PASSWORD_RULE);
    const user = storable ? await this.users.findWithPasswordByEmail(email) : null;
    // One message for an unknown email and a wrong password, so sign-in does not reveal who has an account.
    // An unknown email still pays for one verification, so timing does not tell either.
    const hash = user?.passwordHash ?? (await this.dummyHash());
    const valid = await argon2.verify(hash, input.password).catch(() => false);
    if (!user || !valid) throw new UnauthenticatedError('invalid email or password');
    this.rememberUser(user.id);
    const { passwordHash: _omitted, ...publicUser } = user;
    return { token: await this.tokens.issue(user.id), user: publicUser as UserEntity };
  }

  /**
   * The viewer named by an `Authorization` value, when its token is valid and its user exists. `remember: false`
   * for a token presented once per connection (see TokenService.verifyBearer).
   */
  async authenticate(authorization: unknown, options?: { remember?: boolean }): Promise<Viewer | null> {
    const viewer = await this.tokens.verifyBearer(authorization, options);
    if (!viewer || !isUuid(viewer.id)) return null;
    if (this.knownUserIds.has(viewer.id)) return viewer;
    const forgottenBefore = this.forgotten;
    if (!(await this.users.exists(viewer.id))) return null;
    if (this.forgotten === forgottenBefore) this.rememberUser(viewer.id);
    return viewer;
  }

  /** The account an email names (as sign-up stored it: trimmed, lower-cased); none for what sign-up refuses. */
  async getByEmail(email: string): Promise<UserEntity | null> {
    const stored = storedEmail(email);
    return stored === null ? null : this.users.findByEmail(stored);
  }

  async getById(id: string): Promise<UserEntity | null> {
    return isUuid(id) ? this.users.findById(id) : null;
  }

  findByIds(ids: readonly string[]): Promise<UserEntity[]> {
    return this.users.findByIds(ids.filter(isUuid));
  }

  private dummyHashPromise?: Promise<string>;
  private dummyHash(): Promise<string> {
    this.dummyHashPromise ??= argon2.hash('not-a-real-password', this.hashOptions);
    return this.dummyHashPromise;
  }

  private forget(userId: string | null): void {
    this.forgotten++;
    if (userId === null) this.knownUserIds.clear();
    else this.knownUserIds.delete(userId);
    for (const listener of this.goneListeners) listener(userId);
  }

  private rememberUser(id: string): void {
    if (this.knownUserIds.size >= KNOWN_USERS_CAP) this.knownUserIds.clear();
    this.knownUserIds.add(id);
  }
}

/** An email as sign-up stores it, or null for one that sign-up's text rule refuses (its length, a NUL): no account has it. */
export function storedEmail(email: string): string | null {
  const normalized = normalizeEmail(email);
  return 'value' in checkText('email', normalized, EMAIL_RULE) ? normalized : null;
}

function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
