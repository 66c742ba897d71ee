import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Harness, serverInput, startHarness } from "./harness.ts";

/** Simulated time runs 100x fast; poll intervals are scaled by the same factor so counts match reality. */
const timeScale = 0.01;
const pollIntervalMs = 500 * timeScale;
const maxPollIntervalMs = 5000 * timeScale;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ sim: { timeScale } });
});
afterAll(async () => {
  await h.sim.stop();
});

test("a create-and-delete cycle costs a bounded number of Hetzner requests", async () => {
  h.sim.clearRequests();
  const created = await h.client.servers.create(serverInput("cycle"));
  const createActions = [created.action.id, ...created.nextActions.map((a) => a.id)];
  await h.client.actions.waitFor(createActions, { pollIntervalMs, maxPollIntervalMs });
  const afterCreate = h.sim.requests().length;
  const deleting = await h.client.servers.delete(created.server.id);
  if (!deleting) throw new Error("server vanished before delete");
  await h.client.actions.waitFor([deleting.id], { pollIntervalMs, maxPollIntervalMs });
  const total = h.sim.requests().length;
  console.log(
    `create-and-delete cycle: ${total} Hetzner requests (create + wait: ${afterCreate}, delete + wait: ${total - afterCreate}; default poll intervals, simulated at 100x)`,
  );
  expect(await h.client.servers.get(created.server.id)).toBeNull();
  // POST, then polls 0.5 s apart growing by half to 5 s across Hetzner's 77 s of create and start (about
  // 20), then DELETE and a few polls across its 5 s: 26 measured; 30 leaves room for a slow teardown.
  expect(total).toBeLessThanOrEqual(30);
});
