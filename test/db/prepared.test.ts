/** Prepared statements live on the database handle that prepared them, not in the module that defines them. */
import { afterEach, expect, test } from "bun:test";
import { count, eq, sql } from "drizzle-orm";
import { preparedPerConnection } from "../../db/prepared.ts";
import { instances } from "../../db/schema.ts";
import { openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";

const opened: TestDatabase[] = [];
afterEach(() => {
  for (const t of opened.splice(0)) t.close();
});

test("a definition is prepared once per handle, on that handle, and never answers for another database", () => {
  const [first, second] = [openTestDatabase(), openTestDatabase()];
  opened.push(first, second);
  const prepares: string[] = [];
  const countById = preparedPerConnection((db) => {
    prepares.push(db.$client.filename);
    return db
      .select({ n: count() })
      .from(instances)
      .where(eq(instances.id, sql.placeholder("id")))
      .prepare();
  });
  first.db.insert(instances).values({ id: "only-in-first", createdAt: 1, updatedAt: 1 }).run();

  expect(countById(first.db)).toBe(countById(first.db));
  expect(countById(first.db).get({ id: "only-in-first" })).toEqual({ n: 1 });
  expect(countById(second.db).get({ id: "only-in-first" })).toEqual({ n: 0 });
  expect(prepares).toEqual([first.db.$client.filename, second.db.$client.filename]);
  expect(first.db.$prepared).not.toBe(second.db.$prepared);
});
