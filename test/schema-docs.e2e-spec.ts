import { getIntrospectionQuery, IntrospectionQuery } from 'graphql';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';

/** graphql-js's own scalars: their descriptions are the language's, not the API's. */
const BUILT_IN_SCALARS = new Set(['String', 'Int', 'Float', 'Boolean', 'ID']);

/**
 * Every place of the schema that should explain itself and does not, as `Type`, `Type.field`,
 * `Type.field(argument)`, `Input.field` or `Enum.VALUE`.
 */
function undocumented(schema: IntrospectionQuery['__schema']): string[] {
  const missing: string[] = [];
  const check = (description: string | null | undefined, where: string) => {
    if (!description?.trim()) missing.push(where);
  };
  for (const type of schema.types) {
    if (type.name.startsWith('__') || BUILT_IN_SCALARS.has(type.name)) continue;
    check(type.description, type.name);
    if (type.kind === 'OBJECT' || type.kind === 'INTERFACE') {
      for (const field of type.fields) {
        check(field.description, `${type.name}.${field.name}`);
        for (const arg of field.args) check(arg.description, `${type.name}.${field.name}(${arg.name})`);
      }
    }
    if (type.kind === 'INPUT_OBJECT') {
      for (const field of type.inputFields) check(field.description, `${type.name}.${field.name}`);
    }
    if (type.kind === 'ENUM') {
      for (const value of type.enumValues) check(value.description, `${type.name}.${value.name}`);
    }
  }
  return missing;
}

describe('the schema documents itself', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('has a description on every type, field, argument, input field and enum value', async () => {
    const res = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: getIntrospectionQuery() }),
    });
    const answer = (await res.json()) as { data?: IntrospectionQuery; errors?: unknown[] };
    expect(answer.errors).toBeUndefined();
    const schema = answer.data!.__schema;
    // The check must have something to check: the API's own types are there.
    expect(schema.types.map((type) => type.name)).toEqual(expect.arrayContaining(['Query', 'Chat', 'Message']));

    expect(undocumented(schema)).toEqual([]);
  });
});
