/**
 * sim/README.md lists precisely what the simulator does not serve: every operation of the OpenAPI file
 * is either served or matched by a line of that list, and no line matches a served operation or nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { HetznerContract } from "../support/openapi.ts";
import { call } from "./helpers.ts";

const readme = readFileSync(resolve(import.meta.dir, "../../sim/README.md"), "utf8");

/** The ```text block under "## What it does not model", one pattern per line. */
function notModelledPatterns(): string[] {
  const section = readme.slice(readme.indexOf("## What it does not model"));
  const block = /```text\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("sim/README.md has no ```text block under '## What it does not model'");
  return block.split("\n").filter((line) => line.trim() !== "");
}

/** `[METHOD ]path` where `*` at the end is any suffix and `(a|b)` lists alternatives. */
function matcher(pattern: string): (method: string, path: string) => boolean {
  const [first = "", second] = pattern.trim().split(/\s+/);
  const method = second === undefined ? null : first;
  const path = second ?? first;
  const source = path.replace(/[.+?^${}[\]\\]/g, "\\$&").replace(/\*$/, ".*");
  const regex = new RegExp(`^${source}$`);
  return (m, p) => (method === null || method === m) && regex.test(p);
}

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0 });
});
afterAll(() => sim.stop());

/** Whether the simulator routes the operation (with 1 for every path parameter), whatever it answers. */
async function isServed(method: string, template: string): Promise<boolean> {
  const path = template.replace(/\{[^}]+\}/g, "1");
  const reply = await call(sim, method, path, method === "GET" || method === "DELETE" ? undefined : {});
  return !(reply.status === 404 && String(reply.body?.error?.message).endsWith("is not served"));
}

test("every operation is served or listed, and every listed line names only unserved operations", async () => {
  const operations = new HetznerContract().operations();
  const served = new Map<string, boolean>();
  for (const { method, path } of operations) served.set(`${method} ${path}`, await isServed(method, path));
  const patterns = notModelledPatterns().map((line) => ({ line, matches: matcher(line) }));

  const unlisted = operations.filter(
    ({ method, path }) => !served.get(`${method} ${path}`) && !patterns.some((p) => p.matches(method, path)),
  );
  expect(unlisted.map(({ method, path }) => `${method} ${path}`)).toEqual([]);
  const wrong = patterns.filter(({ matches }) => {
    const hits = operations.filter(({ method, path }) => matches(method, path));
    return hits.length === 0 || hits.some(({ method, path }) => served.get(`${method} ${path}`));
  });
  expect(wrong.map((p) => p.line)).toEqual([]);
}, 30_000);
