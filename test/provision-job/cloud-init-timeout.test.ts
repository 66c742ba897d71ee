/** The cloud-init timeout message says what is known of the server's actions, and nothing more. */
import { expect, test } from "bun:test";
import { CloudInitTimeoutError } from "../../jobs/provision/steps/await-cloud-init.ts";

test("says the create and start actions succeeded only when they were checked", () => {
  expect(new CloudInitTimeoutError(7, 0, 2_000, [], [101, 102]).message).toBe(
    "server 7 sent no cloud-init callback within 2000 ms; its create and start actions had succeeded",
  );
  expect(new CloudInitTimeoutError(7, 0, 2_000, [], []).message).toBe(
    "server 7 sent no cloud-init callback within 2000 ms; its create and start actions are unknown",
  );
});
