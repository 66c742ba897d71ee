import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { createTestStack, type ServiceName, type TestStack } from "../../harness/support/processes.ts";

let stack: TestStack;
beforeAll(async () => {
  // The production worker entry: a config error must stop it before any test job matters.
  stack = await createTestStack({ workerEntry: join(resolve(import.meta.dir, "../.."), "worker/main.ts") });
});
afterAll(() => stack.dispose());

describe("a missing config variable", () => {
  test.each(["broker", "api", "worker"] as ServiceName[])(
    "%s exits 1 with one error line naming it",
    async (service) => {
      // An empty value counts as unset, the same as a variable missing from the environment.
      const child = stack.spawn(service, { BROKER_TOKEN: "" });
      expect(await child.exited).toBe(1);
      const texts = stack.logs(service).map((line) => line.text);
      expect(texts).toContain("config error: BROKER_TOKEN: required");
      expect(texts.join("\n")).not.toContain(stack.env.SECRETS_KEY ?? "never");
    },
    30_000,
  );
});
