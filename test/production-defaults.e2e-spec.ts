import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { gql } from './support/gql';

/** What NODE_ENV=production changes for a stranger: less to learn about the schema, the code and the instance. */
describe('production defaults', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let metricsUrl: string;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    });
    metricsUrl = /metrics on (http:\/\/[^\s"]+)/.exec(app.logs)![1];
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('refuses introspection and gives no "Did you mean" hints', async () => {
    const introspection = await gql(app.url, '{ __schema { queryType { name } } }');
    expect(introspection.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const typo = await gql(app.url, '{ chatz { id } }');
    expect(typo.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(typo.errors?.[0]?.message).toBe('Cannot query field "chatz" on type "Query".');
  });

  it('serves the pages without their source maps', async () => {
    expect((await fetch(`${app.url}/chat.js`)).status).toBe(200);
    expect((await fetch(`${app.url}/chat.js.map`)).status).toBe(404);
    expect((await fetch(`${app.url}/ide.js.map`)).status).toBe(404);
    // Nor by another spelling of the same path.
    for (const path of ['/chat.js%2Emap', '/chat.js.ma%70', '/chat.js%2emap']) {
      expect([path, (await fetch(`${app.url}${path}`)).status]).toEqual([path, 404]);
    }
  });

  it('serves /metrics on METRICS_PORT only', async () => {
    expect((await fetch(`${app.url}/metrics`)).status).toBe(404);
    const metrics = await fetch(metricsUrl);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('chat_ws_connections');
    expect((await fetch(metricsUrl.replace('/metrics', '/health/live'))).status).toBe(404);
  });
});
