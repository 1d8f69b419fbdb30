import { NestExpressApplication } from '@nestjs/platform-express';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { GraphQLError, ValidationContext, ValidationRule } from 'graphql';
import { AppModule } from '../src/app.module';
import { setUpApp } from '../src/app.setup';
import { AppConfig } from '../src/config/app-config';
import { ADMISSION_RULES, admissionRules } from '../src/graphql/admission';
import { uncountedLists } from '../src/graphql/complexity.rule';
import { TestDatabase } from './support/database';
import { TEST_JWT_SECRET, TEST_REDIS_URL } from './support/env';
import { signUp, TestUser } from './support/gql';
import { connect } from './support/ws';

/** A rule a deployment might add: no operation may ask for `__typename`. */
const noTypename: ValidationRule = (context: ValidationContext) => ({
  Field(node) {
    if (node.name.value === '__typename') context.reportError(new GraphQLError('__typename is not served here'));
  },
});

/**
 * The app module built in this process with one more rule in ADMISSION_RULES, the one list of admission rules:
 * POST, GET and graphql-ws all apply it, with nothing else changed.
 */
describe('a validation rule added in one place', () => {
  let db: TestDatabase;
  let app: NestExpressApplication;
  let url: string;
  let user: TestUser;

  beforeAll(async () => {
    db = await TestDatabase.create();
    const config = AppConfig.fromEnvironment({
      NODE_ENV: 'test',
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      JWT_SECRET: TEST_JWT_SECRET,
      PASSWORD_HASH_MEMORY_KIB: '1024',
      PASSWORD_HASH_ITERATIONS: '1',
    });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
      .overrideProvider(ADMISSION_RULES)
      .useValue([...admissionRules(config), noTypename])
      .compile();
    app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: false });
    await setUpApp(app, config);
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
    user = await signUp(url, 'Ann');
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('has a size for every list field, so the complexity rule can cost every operation', () => {
    expect(uncountedLists(app.get(GraphQLSchemaHost).schema)).toEqual([]);
  });

  it('is applied over POST, GET and graphql-ws', async () => {
    const query = '{ me { id __typename } }';
    const headers = { authorization: `Bearer ${user.token}`, 'apollo-require-preflight': 'true' };
    const posted = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    const got = await fetch(`${url}/graphql?${new URLSearchParams({ query })}`, { headers });
    const ws = connect(`${url.replace('http', 'ws')}/graphql`, user.token);
    const overWs = await new Promise<unknown>((resolve) => {
      ws.client.subscribe({ query }, { next: () => undefined, error: resolve, complete: () => resolve(null) });
    });
    await ws.dispose();

    const expected = { message: '__typename is not served here', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } };
    expect(((await posted.json()) as { errors: unknown[] }).errors).toEqual([expect.objectContaining(expected)]);
    expect(((await got.json()) as { errors: unknown[] }).errors).toEqual([expect.objectContaining(expected)]);
    expect(overWs).toEqual([expect.objectContaining(expected)]);

    // Without __typename the same operation runs on each of them.
    const fine = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(await fine.json()).toEqual({ data: { me: { id: user.id } } });
  });
});
