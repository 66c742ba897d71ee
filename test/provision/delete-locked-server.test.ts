/**
 * A server is locked while its create action runs (75 s at Hetzner): a cancellation or rollback in that
 * window must wait for the action and then delete, not fail with `locked`.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { deleteServerById } from "../../jobs/shared/remove-server.ts";
import { type Harness, serverInput, startHarness } from "../hetzner/harness.ts";

let h: Harness;

beforeAll(async () => {
  // The create action lasts 75 s × 0.02 = 1.5 s; one attempt per call, so the client's own retries of
  // `locked` cannot hide what the deletion does.
  h = await startHarness({ sim: { timeScale: 0.02 }, attempts: 1 });
});
afterAll(() => h.sim.stop());

test("deleting a server whose create action still runs waits for it, then deletes", async () => {
  const created = await h.client.servers.create(serverInput("rachel-locked"));
  const serverId = created.server.id;

  await deleteServerById(h.client, serverId, {
    signal: AbortSignal.timeout(30_000),
    awaitDeletion: true,
    expectedDeletionMs: 100,
  });

  expect(await h.client.servers.get(serverId)).toBeNull();
  // The first DELETE met the lock; the second, after the create action, deleted it.
  expect(h.served("DELETE", "/servers/{id}")).toBe(2);
  expect(h.served("GET", "/servers/{id}/actions")).toBe(1);
});
