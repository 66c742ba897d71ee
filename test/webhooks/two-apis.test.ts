import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../../core/config.ts";
import { createSealer } from "../../core/secrets.ts";
import { isHttpOk, pollUntil } from "../../core/wait.ts";
import { appDatabasePath, type Db, openDatabase } from "../../db/index.ts";
import { createCustomerStore } from "../../domain/customers.ts";
import { customerSecrets } from "../../harness/customers/fixtures.ts";
import { createTestStack, freePorts, type TestStack } from "../../harness/support/processes.ts";
import {
  newWebhookSecret,
  postDelivery,
  signStandard,
  standardPayload,
} from "../../harness/webhooks/world.ts";

// A broker and two API processes on one DATA_DIR, as a deployment with two API replicas runs them.
setDefaultTimeout(90_000);

const CUSTOMERS = 24;
const EVENTS_PER_CUSTOMER = 8;

const secret = newWebhookSecret();
let stack: TestStack;
let db: Db;
let publicUrls: string[];
const customerIds = Array.from({ length: CUSTOMERS }, (_, i) => `two-apis-${i}`);

beforeAll(async () => {
  stack = await createTestStack({ env: { STANDARD_WEBHOOK_SECRET: secret, LOG_LEVEL: "info" } });
  await stack.start("broker");
  await stack.start("api");
  const [apiPort, publicApiPort] = await freePorts(2);
  stack.spawn("api", { API_PORT: String(apiPort), PUBLIC_API_PORT: String(publicApiPort) });
  await pollUntil(() => isHttpOk(`http://127.0.0.1:${apiPort}/healthz`), {
    timeoutMs: 30_000,
    description: "the second API's /healthz",
  });
  publicUrls = [stack.publicApiUrl, `http://127.0.0.1:${publicApiPort}`];
  db = openDatabase(appDatabasePath(stack.dataDir));
  const store = createCustomerStore({ db, sealer: createSealer(loadConfig(stack.env).secretsKeys) });
  for (const customerId of customerIds) store.upsert(customerId, customerSecrets(customerId));
});
afterAll(async () => {
  db?.$client.close();
  await stack?.dispose();
});

interface OperationRow {
  instanceId: string;
  operation: string;
  seq: number;
}

/** The customer's operations, in the order they were opened (rowid). */
const operationsOf = (customerId: string) =>
  db.$client
    .query<OperationRow, [string]>(
      `SELECT o.instance_id AS instanceId, o.operation, o.seq FROM operations o
       JOIN instances i ON i.id = o.instance_id WHERE i.customer_id = ? ORDER BY o.rowid`,
    )
    .all(customerId);

test("two API processes racing a customer's interleaved events converge on the customer's last state", async () => {
  const start = Date.now() - 60_000;
  // Customer i's events alternate active/canceled by creation time; even customers end active, odd ones cancelled.
  const sends = customerIds.flatMap((customerId, i) =>
    Array.from({ length: EVENTS_PER_CUSTOMER }, (_, n) => {
      const active = (n + i + EVENTS_PER_CUSTOMER) % 2 === 1;
      const type = active ? "subscription.active" : "subscription.canceled";
      const payload = standardPayload({
        customerId,
        subscriptionId: `sub_${customerId}`,
        type,
        occurredAt: new Date(start + n * 1000),
      });
      // Newest first into alternating processes, so older events keep arriving after newer ones.
      const url = `${publicUrls[(n + i) % 2]}/v1/webhooks/standard`;
      return { url, delivery: signStandard(payload, [secret]), order: EVENTS_PER_CUSTOMER - n };
    }),
  );
  sends.sort((a, b) => a.order - b.order);
  const answers = await Promise.all(sends.map(({ url, delivery }) => postDelivery(url, delivery)));
  expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);

  for (const [i, customerId] of customerIds.entries()) {
    const endsPaid = i % 2 === 0;
    const operations = operationsOf(customerId);
    // No duplicate jobs: each instance got at most one provision and one deprovision, in that order.
    const perInstance = Map.groupBy(operations, (row) => row.instanceId);
    for (const rows of perInstance.values()) {
      expect(rows.map((row) => `${row.operation}:${row.seq}`)).toEqual(
        ["provision:1", "deprovision:1"].slice(0, rows.length),
      );
    }
    const live = [...perInstance.values()].filter((rows) => rows.length === 1);
    if (endsPaid) {
      expect(live).toHaveLength(1);
      expect(operations.at(-1)?.operation).toBe("provision");
    } else {
      expect(live).toEqual([]);
      expect(operations.at(-1)?.operation ?? "deprovision").toBe("deprovision");
    }
  }
  const claims = db.$client.query("SELECT customer_id FROM payment_application_claims").all();
  expect(claims).toEqual([]);
});

test("an application waits while another process holds the customer's claim, and takes over an expired one", async () => {
  const [held, expired] = ["claim-held", "claim-expired"];
  const store = createCustomerStore({ db, sealer: createSealer(loadConfig(stack.env).secretsKeys) });
  for (const customerId of [held, expired]) store.upsert(customerId, customerSecrets(customerId));
  const claim = db.$client.query(
    "INSERT INTO payment_application_claims (customer_id, holder, expires_at) VALUES (?, 'other-process', ?)",
  );
  claim.run(held, Date.now() + 60_000);
  claim.run(expired, Date.now() - 1);
  const send = (customerId: string, url: string | undefined) =>
    postDelivery(
      `${url}/v1/webhooks/standard`,
      signStandard(standardPayload({ customerId, subscriptionId: `sub_${customerId}` }), [secret]),
    );

  expect((await send(expired, publicUrls[0])).body).toEqual({ status: "applied" });
  expect(operationsOf(expired).map((row) => row.operation)).toEqual(["provision"]);

  const answer = send(held, publicUrls[1]);
  await Bun.sleep(500);
  expect(operationsOf(held)).toEqual([]);
  db.$client.query("DELETE FROM payment_application_claims WHERE customer_id = ?").run(held);
  expect((await answer).body).toEqual({ status: "applied" });
  expect(operationsOf(held).map((row) => row.operation)).toEqual(["provision"]);
});
