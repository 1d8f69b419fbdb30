import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
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
    return (await this.sql.query('SELECT 1 FROM users WHERE id = $1', [id])).length > 0;
  }

  /** Plain SQL: every tracked presence subscription reads its user (TypeORM's findOneBy cost more than the query). */
  async findById(id: string): Promise<UserEntity | null> {
    const [user] = await this.sql.query<UserEntity>(
      'SELECT id, email, first_name AS "firstName", created_at AS "createdAt" FROM users WHERE id = $1',
      [id],
    );
    return user ?? null;
  }

  findByIds(ids: readonly string[]): Promise<UserEntity[]> {
    return this.users.findBy({ id: In([...ids]) });
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
