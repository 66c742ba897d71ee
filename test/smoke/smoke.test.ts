/**
 * `bun run smoke` as an operator runs it, with HCLOUD_ENDPOINT pointed at a simulator on loopback: a real
 * run provisions, times and deprovisions; an interrupted one and a refused one leave nothing at "Hetzner".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { simulatorWiring } from "../../cli/simulated-stack.ts";
import { forwardLines } from "../../core/lines.ts";
import { pollUntil } from "../../core/wait.ts";
import { type BundleWorld, createBundleWorld } from "../../harness/bundle/world.ts";
import { createHetznerClient, type HetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { findFreePort } from "../../sim/free-port.ts";
import { type Simulator, startSimulator } from "../../sim/index.ts";

const repoRoot = resolve(import.meta.dir, "../..");
let sim: Simulator;
let hetzner: HetznerClient;
let bundles: BundleWorld;

beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.05 });
  hetzner = createHetznerClient({
    endpoint: sim.endpoint,
    token: sim.token,
    retry: { attempts: 1 },
    budget: new RateLimitBudget(),
  });
  bundles = await createBundleWorld();
  const { manifest } = await bundles.build("x64");
  await bundles.store.promote(manifest.id);
});
afterAll(async () => {
  await bundles.close();
  await sim.stop();
});

/** The operator's environment: the simulator as Hetzner, a loopback public listener, the bundle's DATA_DIR. */
async function operatorEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const publicPort = await findFreePort();
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    ...simulatorWiring(sim),
    DATA_DIR: bundles.dataDir,
    PUBLIC_API_PORT: String(publicPort),
    PUBLIC_BASE_URL: `http://127.0.0.1:${publicPort}`,
    CONTROL_PLANE_IPS: "127.0.0.1/32",
    CLOUD_INIT_TIMEOUT_MS: "60000",
    VERIFY_SETTLE_MS: "500",
    ...extra,
  };
}

function startSmoke(args: string[], env: Record<string, string>) {
  const child = Bun.spawn([process.execPath, "run", "smoke", ...args], {
    cwd: repoRoot,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  const output = Promise.all([
    forwardLines(child.stdout, (line) => lines.push(line)),
    forwardLines(child.stderr, (line) => lines.push(line)),
  ]);
  const finished = Promise.all([child.exited, output]).then(([code]) => ({ code, text: lines.join("\n") }));
  return { child, lines, finished };
}

async function leftAt(client: HetznerClient): Promise<number[]> {
  const [servers, keys, firewalls] = await Promise.all([
    client.servers.listAll(),
    client.sshKeys.listAll(),
    client.firewalls.listAll(),
  ]);
  return [servers.length, keys.length, firewalls.length];
}

describe("bun run smoke against a simulator", () => {
  test("--help prints usage and exits 0; a bad option exits 2", async () => {
    const help = await startSmoke(["--help"], await operatorEnv()).finished;
    expect(help.code).toBe(0);
    expect(help.text).toContain("usage: bun run smoke");
    const bad = await startSmoke(["--max-eur", "free"], await operatorEnv()).finished;
    expect(bad.code).toBe(2);
    expect(bad.text).toContain("--max-eur: 'free' is not a positive number");
  });

  test(
    "provisions to ready, prints the phase table, deprovisions and leaves nothing",
    async () => {
      // A test bot's secrets from a file, as an operator gives them; the values are never printed.
      const secrets = fakeCustomerSecrets("filed");
      const customerFile = join(bundles.dir, "customer.json");
      await Bun.write(customerFile, JSON.stringify(secrets));
      const { code, text } = await startSmoke(["--customer", customerFile], await operatorEnv()).finished;
      expect(text).not.toContain(secrets.telegramBotToken);
      expect(text).not.toContain(secrets.claude.refreshToken);
      if (code !== 0) throw new Error(`smoke exited ${code}:\n${text}`);
      expect(text).toMatch(/server type cx23 \(\d+ vCPU, \d+ GB\): .*nbg1 €0\.\d{4}.* per hour incl\. VAT/);
      expect(text).toMatch(/app bundle [0-9a-f]{12} \(x64, app [0-9a-f]{12}/);
      expect(text).toMatch(/smoke run ([0-9a-f]{8}): everything it makes is labelled smoke-run=\1/);
      expect(text).toContain("provision phases (real machine)");
      expect(text).toMatch(/create action \(create_server\) +\d+\.\d +hetzner/);
      expect(text).toMatch(/injection \(first-boot check, secrets, start\) +\d+\.\d/);
      expect(text).toMatch(/verify \(settle, unit active, login\) +\d+\.\d/);
      expect(text).toMatch(/ready in \d+\.\d s: within the 90 s target/);
      expect(text).toContain("deprovision steps");
      expect(text).toMatch(/cleanup: nothing labelled smoke-run=[0-9a-f]{8} is left/);
      expect(await leftAt(hetzner)).toEqual([0, 0, 0]);
    },
    { timeout: 120_000 },
  );

  test(
    "SIGINT mid-provision: the cleanup deletes what the run made and nothing is left",
    async () => {
      // A slow first boot keeps the provision waiting for its callback when the interrupt comes.
      const slow = await startSimulator({ timeScale: 0.05, timings: { cloudInitMs: 3_600_000 } });
      const slowHetzner = createHetznerClient({
        endpoint: slow.endpoint,
        token: slow.token,
        budget: new RateLimitBudget(),
      });
      try {
        const smoke = startSmoke([], await operatorEnv(simulatorWiring(slow)));
        await pollUntil(async () => (await slowHetzner.servers.listAll()).length === 1, {
          timeoutMs: 60_000,
          intervalMs: 100,
          description: "the smoke's server to exist",
        });
        smoke.child.kill("SIGINT");
        const { code, text } = await smoke.finished;
        expect(code).toBe(1);
        expect(text).toContain("smoke failed: interrupted (SIGINT)");
        // All three were found by the run's label alone: the provisioner put it on each.
        expect(text).toMatch(/deleting server rachel-/);
        expect(text).toMatch(/deleted SSH key rachel-/);
        expect(text).toContain("deleted firewall rachel-control-plane-ssh");
        expect(text).toMatch(/cleanup: nothing labelled smoke-run=[0-9a-f]{8} is left/);
        expect(await leftAt(slowHetzner)).toEqual([0, 0, 0]);
      } finally {
        await slow.stop();
      }
    },
    { timeout: 120_000 },
  );

  test(
    "the wall-clock cap stops a provision that takes too long and the cleanup leaves nothing",
    async () => {
      const slow = await startSimulator({ timeScale: 0.05, timings: { cloudInitMs: 3_600_000 } });
      try {
        const { code, text } = await startSmoke(
          ["--max-minutes", "0.1"],
          await operatorEnv(simulatorWiring(slow)),
        ).finished;
        expect(code).toBe(1);
        expect(text).toContain("one server for at most 0.1 min costs at most");
        expect(text).toContain("smoke failed: wall-clock cap of 0.1 min reached");
        expect(text).toMatch(/deleting server rachel-/);
        expect(text).toMatch(/cleanup: nothing labelled smoke-run=[0-9a-f]{8} is left/);
        expect(
          await leftAt(
            createHetznerClient({
              endpoint: slow.endpoint,
              token: slow.token,
              budget: new RateLimitBudget(),
            }),
          ),
        ).toEqual([0, 0, 0]);
      } finally {
        await slow.stop();
      }
    },
    { timeout: 120_000 },
  );

  test("refuses over the cost cap, and on an earlier run's leftovers until --clean removed them", async () => {
    const tooDear = await startSmoke(["--max-eur", "0.0001"], await operatorEnv()).finished;
    expect(tooDear.code).toBe(3);
    expect(tooDear.text).toMatch(/smoke refused: cost cap: up to €0\.\d+ exceeds --max-eur 0\.0001/);
    expect(await leftAt(hetzner)).toEqual([0, 0, 0]);

    const badFile = join(bundles.dir, "bad-customer.json");
    await Bun.write(badFile, JSON.stringify({ telegramBotToken: 7, claude: {} }));
    const badCustomer = await startSmoke(["--customer", badFile], await operatorEnv()).finished;
    expect(badCustomer.code).toBe(3);
    expect(badCustomer.text).toContain("is not a PUT /v1/customers body");
    expect(badCustomer.text).toMatch(
      /bad fields: telegramBotToken, ownerTelegramUserId, claude\.accessToken/,
    );

    await hetzner.sshKeys.create({
      name: "left-by-a-killed-smoke",
      publicKey: (await import("ssh2")).utils.generateKeyPairSync("ed25519").public.trim(),
      labels: { "managed-by": "rachel-provisioner", "smoke-run": "0badc0de" },
    });
    const leftovers = await startSmoke([], await operatorEnv()).finished;
    expect(leftovers.code).toBe(3);
    expect(leftovers.text).toContain("the project still holds what an earlier smoke made");
    expect(leftovers.text).toContain("SSH key left-by-a-killed-smoke");
    // --clean needs nothing but the token: no callback URL, addresses or bundle.
    const { PATH = "/usr/bin:/bin", HOME = "/root" } = process.env;
    const cleaned = await startSmoke(["--clean"], { PATH, HOME, ...simulatorWiring(sim) }).finished;
    expect(cleaned.code).toBe(0);
    expect(cleaned.text).toContain("deleted SSH key left-by-a-killed-smoke");
    expect(await leftAt(hetzner)).toEqual([0, 0, 0]);
  });

  test("names what a real run needs: https callbacks, CONTROL_PLANE_IPS, no CI", async () => {
    const env = await operatorEnv({ CI: "true", HCLOUD_ENDPOINT: "http://hetzner.example.test/v1" });
    delete env.CONTROL_PLANE_IPS;
    const { code, text } = await startSmoke([], env).finished;
    expect(code).toBe(3);
    expect(text).toContain(
      "HCLOUD_ENDPOINT: must be https; plain http is allowed only for a loopback endpoint",
    );
    expect(text).toContain("CI: is set; the smoke spends money");
    expect(text).toContain("PUBLIC_BASE_URL: required, https: the new server phones home to it");
    expect(text).toContain("CONTROL_PLANE_IPS: required");
  });
});
