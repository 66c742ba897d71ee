/** What a sweep reads from the database: payment state per registered customer, newest operation per instance. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { operations } from "../../db/schema.ts";
import { createCustomerStore } from "../../domain/customers.ts";
import { customerSecrets, openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import { insertInstance, insertOperation, subscribe } from "../../harness/reconcile/sweep-world.ts";
import { readCustomers, readInstances, readUnfinishedOperationIds } from "../../jobs/reconcile/observe.ts";

let t: TestDatabase;
beforeEach(() => {
  t = openTestDatabase();
});
afterEach(() => t.close());

test("a customer is paid while any subscription is, cancelled when all are; unregistered and shredded-paid are left out", () => {
  const store = createCustomerStore({ db: t.db, sealer: t.sealer });
  for (const id of ["mixed", "gone", "shredded-paid", "shredded-cancelled"])
    store.upsert(id, customerSecrets(id));
  subscribe(t.db, "mixed", "cancelled", "sub-1");
  subscribe(t.db, "mixed", "paid", "sub-2");
  subscribe(t.db, "gone", "cancelled", "sub-3");
  subscribe(t.db, "gone", "cancelled", "sub-4");
  subscribe(t.db, "unregistered", "paid", "sub-5");
  subscribe(t.db, "shredded-paid", "paid", "sub-6");
  subscribe(t.db, "shredded-cancelled", "cancelled", "sub-7");
  store.shred("shredded-paid");
  store.shred("shredded-cancelled");

  expect(readCustomers(t.db).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
    { id: "gone", payment: "cancelled" },
    { id: "mixed", payment: "paid" },
    { id: "shredded-cancelled", payment: "cancelled" },
  ]);
});

test("each instance carries its newest operation of any kind; unfinished operations are listed for the broker", () => {
  const withTwo = insertInstance(t.db, { customerId: "c1", status: "deprovisioning" });
  insertOperation(t.db, withTwo, "provision", "succeeded");
  const deprovision = insertOperation(t.db, withTwo, "deprovision", "parked");
  t.db.update(operations).set({ waitDeadline: 1234 }).where(eq(operations.id, deprovision)).run();
  const bare = insertInstance(t.db, { customerId: null, status: "new" });

  const byId = new Map(readInstances(t.db).map((i) => [i.id, i]));
  expect(byId.get(withTwo)?.operation).toMatchObject({
    id: deprovision,
    status: "parked",
    waitDeadline: 1234,
  });
  expect(byId.get(bare)).toEqual({
    id: bare,
    customerId: null,
    status: "new",
    hetznerServerId: null,
    operation: null,
  });
  expect(readUnfinishedOperationIds(t.db)).toEqual([deprovision]);
});
