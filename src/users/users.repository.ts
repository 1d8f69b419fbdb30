import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { concurrentBatch } from '../common/concurrent-batch';
import { isUuid } from '../common/uuid';
import { isUniqueViolation } from '../database/postgres-errors';
import { Sql } from '../database/sql';
import { UserEntity } from './user.entity';

/** Every query on users. */
@Injectable()
export class UsersRepository {
  constructor(
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    private readonly sql: Sql,
  ) {}

  /** Whether the account exists: asked when a token names a user this instance has not seen yet. */
  async exists(id: string): Promise<boolean> {
    return (await this.findById(id)) !== null;
  }

  /**
   * Plain SQL, and concurrent askers share one query (see concurrentBatch): every new connection and every
   * tracked presence subscription reads its user (TypeORM's findOneBy cost more than the query).
   */
  findById(id: string): Promise<UserEntity | null> {
    return isUuid(id) ? this.byId.load(id) : Promise.resolve(null);
  }

  private readonly byId = concurrentBatch<string, UserEntity | null>(async (ids) => {
    const rows = await this.sql.query<UserEntity & { ord: number }>(
      `SELECT p.ord::int AS ord, u.id, u.email, u.first_name AS "firstName", u.created_at AS "createdAt"
       FROM unnest($1::uuid[]) WITH ORDINALITY AS p(id, ord) JOIN users u ON u.id = p.id`,
      [ids],
    );
    const found = new Map(rows.map(({ ord, ...user }) => [ord - 1, user]));
    return ids.map((_, i) => found.get(i) ?? null);
  });

  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    const rows = await this.sql.query<{ id: string }>('SELECT id FROM users WHERE id = ANY($1::uuid[])', [ids]);
    return new Set(rows.map((row) => row.id));
  }

  findByIds(ids: readonly string[]): Promise<UserEntity[]> {
    return this.users.findBy({ id: In([...ids]) });
  }

  findByEmail(email: string): Promise<UserEntity | null> {
    return this.users.findOneBy({ email });
  }

  findWithPasswordByEmail(email: string): Promise<UserEntity | null> {
    return this.users.createQueryBuilder('u').addSelect('u.passwordHash').where('u.email = :email', { email }).getOne();
  }

  /** Inserts a user; returns null when the email is already taken. */
  async insert(values: Pick<UserEntity, 'email' | 'firstName' | 'passwordHash'>): Promise<UserEntity | null> {
    try {
      const saved = await this.users.save(this.users.create(values));
      return saved;
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }
}
