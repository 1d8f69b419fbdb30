import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { UsersModule } from '../users/users.module';
import { Admission, ADMISSION_RULES, admissionRules } from './admission';
import { ErrorFormatter } from './format-error';
import { RequestContexts } from './request-contexts';

/**
 * The stages every GraphQL operation passes whatever transport brought it: admission, context, error formatting
 * and logging. Apollo's configuration and the graphql-ws server both take them from here.
 */
@Module({
  imports: [UsersModule],
  providers: [
    { provide: ADMISSION_RULES, inject: [AppConfig], useFactory: admissionRules },
    Admission,
    RequestContexts,
    ErrorFormatter,
  ],
  exports: [Admission, RequestContexts, ErrorFormatter],
})
export class GraphqlPipelineModule {}
