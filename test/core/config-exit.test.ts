import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { generateDevSecrets } from "../../core/config.ts";
import { runCommand } from "../support/run-command.ts";

// A temp cwd, so Bun's automatic .env loading cannot leak a developer's settings into the child.
const cwd = mkdtempSync(join(tmpdir(), "core-config-exit-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const configModule = resolve(import.meta.dir, "../../core/config.ts");
const entryPoint = `
  const { loadConfigOrExit } = await import(${JSON.stringify(configModule)});
  const config = loadConfigOrExit(process.env);
  console.log("started on port " + config.apiPort);
`;

function runEntryPoint(env: Record<string, string>) {
  return runCommand([process.execPath, "-e", entryPoint], {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
}

test("loadConfigOrExit prints one 'config error' line per problem and exits 1", async () => {
  const badKey = "bm90LWEtMzItYnl0ZS1rZXk=";
  const { stdout, stderr, exitCode } = await runEntryPoint({ SECRETS_KEY: badKey, API_PORT: "http" });
  expect(exitCode).toBe(1);
  expect(stdout).toBe("");
  expect(stderr).toBe(
    [
      "config error: API_PORT: must be an integer 1-65535",
      "config error: BROKER_TOKEN: required",
      "config error: SECRETS_KEY: must be base64 of exactly 32 bytes",
      "config error: HCLOUD_TOKEN: required (or HCLOUD_PROJECTS)",
      "",
    ].join("\n"),
  );
  expect(stderr).not.toContain(badKey);
});

test("loadConfigOrExit returns the config when the environment is valid", async () => {
  const { stdout, stderr, exitCode } = await runEntryPoint({
    ...generateDevSecrets(),
    HCLOUD_TOKEN: "t",
    API_PORT: "8181",
  });
  expect(stderr).toBe("");
  expect(stdout).toBe("started on port 8181\n");
  expect(exitCode).toBe(0);
});
