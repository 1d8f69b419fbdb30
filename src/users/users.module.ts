import { createSecretKey } from 'node:crypto';
import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { TokenService } from './token.service';
import { UserEntity } from './user.entity';
import { UsersRepository } from './users.repository';
import { UsersResolver } from './users.resolver';
import { UsersService } from './users.service';
import { LimitsModule } from '../limits/limits.module';

/** Owns accounts and authentication: users, password hashes, JWTs. */
@Module({
  imports: [
    TypeOrmModule.forFeature([UserEntity]),
    LimitsModule,
    JwtModule.registerAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        // A KeyObject made once: given a string, jsonwebtoken first tries to parse it as a PEM public key on
        // every verification, and that failed parse was the costliest step of an authenticated request.
        secret: createSecretKey(Buffer.from(config.jwtSecret, 'utf8')),
        signOptions: { algorithm: 'HS256', expiresIn: config.jwtExpiresInSeconds },
      }),
    }),
  ],
  providers: [UsersRepository, UsersService, TokenService, UsersResolver],
  exports: [UsersService],
})
export class UsersModule {}
