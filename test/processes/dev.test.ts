import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEV_ENV_FILE, parseEnvFile } from "../../cli/dev-secrets.ts";
import { type ServiceProcess, startService } from "../../cli/service-process.ts";
import { isHttpOk, pollUntil } from "../../core/wait.ts";
import { testEnvironment } from "../../harness/support/processes.ts";

const dataDir = mkdtempSync(join(tmpdir(), "rachel-dev-"));
const started: ServiceProcess[] = [];
afterAll(async () => {
  // dev needs time to stop its children in order; killing it early would orphan them.
  await Promise.all(started.map((child) => child.stop(20_000)));
  rmSync(dataDir, { recursive: true, force: true });
});

/** `bun run dev` with the test's ports; its secrets must come from dev.env, so they are left out. */
async function startDev(env: Record<string, string>) {
  const lines: string[] = [];
  const dev = startService({
    name: "dev",
    entry: resolve(import.meta.dir, "../../cli/dev.ts"),
    env,
    // dev prints this once every process is ready (the api's /readyz included).
    isReady: async () => lines.some((line) => line.startsWith("[dev] ready")),
    onLine: (line) => lines.push(line),
  });
  started.push(dev);
  await dev.waitReady(60_000);
  return { dev, lines };
}

describe("bun run dev", () => {
  test("starts all three with generated secrets, and Ctrl-C stops them all with exit 0", async () => {
    const { BROKER_TOKEN: _token, SECRETS_KEY: _key, ...env } = await testEnvironment(dataDir);
    const first = await startDev(env);
    const secretsPath = join(dataDir, DEV_ENV_FILE);
    expect(statSync(secretsPath).mode & 0o777).toBe(0o600);
    const secrets = parseEnvFile(readFileSync(secretsPath, "utf8"));
    expect(Object.keys(secrets).sort()).toEqual([
      "BROKER_TOKEN",
      "OPS_TOKEN",
      "SECRETS_KEY",
      "SERVICE_TOKEN",
      "STANDARD_WEBHOOK_SECRET",
      "STRIPE_WEBHOOK_SECRET",
    ]);
    expect(await isHttpOk(`http://127.0.0.1:${env.API_PORT}/readyz`)).toBe(true);
    // Pretty logs pass through pino-pretty's thread, so a process's first line may trail its readiness.
    for (const service of ["[broker]", "[api]", "[worker]"]) {
      await pollUntil(() => first.lines.some((line) => line.includes(service)), {
        timeoutMs: 10_000,
        description: `output prefixed ${service}`,
      });
    }
    // The commands dev prints to try read the secrets from dev.env; none is printed.
    for (const secret of Object.values(secrets)) expect(first.lines.join("\n")).not.toContain(secret);

    first.dev.signal("SIGINT");
    first.dev.signal("SIGINT");
    expect(await first.dev.exited).toBe(0);
    expect(await isHttpOk(`http://127.0.0.1:${env.BROKER_HTTP_PORT}/health`)).toBe(false);
    expect(await isHttpOk(`http://127.0.0.1:${env.API_PORT}/healthz`)).toBe(false);

    // A second start keeps the same secrets, so the broker's queue and sealed data stay usable.
    const second = await startDev(env);
    expect(parseEnvFile(readFileSync(secretsPath, "utf8"))).toEqual(secrets);
    second.dev.signal("SIGTERM");
    expect(await second.dev.exited).toBe(0);
  }, 120_000);
});
