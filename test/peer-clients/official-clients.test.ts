/**
 * Hetzner's official clients, unchanged, against the simulator through a provider's whole life: the Go CLI
 * `hcloud` (Debian hcloud-cli) and the Python library (python3-hcloud, run with /usr/bin/python3). Both
 * look the catalogue up by name and then send numeric ids, wait on actions themselves, and page at 50.
 * Every call they make must be one the OpenAPI file documents, with a status it documents for it.
 * `bash .ci/install-tools` installs both; outside CI the test is skipped (with a warning) without them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utils } from "ssh2";
import { type SimRequestRecord, type Simulator, startSimulator } from "../../sim/index.ts";
import { type RecordingProxy, startRecordingProxy } from "../hetzner/recording-proxy.ts";
import { call } from "../sim/helpers.ts";
import { HetznerContract } from "../support/openapi.ts";

const PYTHON = "/usr/bin/python3";
const INSTALL_HINT =
  "Hetzner's official clients are missing: run `bash .ci/install-tools` (hcloud-cli, python3-hcloud)";
/** Real time for one client's whole life; the simulator runs at 1/1000 of Hetzner's durations. */
const LIFE_TIMEOUT_MS = 120_000;

const hasCli = Bun.which("hcloud") !== null;
const hasPython = Bun.spawnSync([PYTHON, "-c", "import hcloud"], { stderr: "ignore" }).exitCode === 0;
const inCi = process.env.CI === "true";
if (!(hasCli && hasPython) && !inCi) console.warn(`skipping the official-client tests: ${INSTALL_HINT}`);

const contract = new HetznerContract();
let sim: Simulator;
let proxy: RecordingProxy;
let scratch: string;
/** Distinct keys (Hetzner refuses a key twice): 0-59 for the CLI, 60-119 for the Python library. */
let publicKeys: string[];

beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.001 });
  proxy = startRecordingProxy(sim.baseUrl);
  scratch = await mkdtemp(join(tmpdir(), "peer-clients-"));
  publicKeys = Array.from(
    { length: 120 },
    (_, i) => utils.generateKeyPairSync("ed25519", { comment: `peer-${i}` }).public,
  );
  // The keys the CLI pages through, made directly so the CLI's own calls stand apart in the log.
  for (const [i, key] of publicKeys.slice(1, 56).entries()) {
    const made = await call(sim, "POST", "/ssh_keys", { name: `peer-cli-page-${i}`, public_key: key });
    if (made.status !== 201) throw new Error(`making key ${i} failed: ${JSON.stringify(made.body)}`);
  }
});
afterAll(async () => {
  await proxy.stop();
  await sim.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** Only what the clients need: no proxy variables, no user configuration. */
function clientEnv(token = sim.token): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: scratch,
    HCLOUD_TOKEN: token,
    HCLOUD_ENDPOINT: proxy.endpoint,
    HCLOUD_CONFIG: join(scratch, "cli.toml"),
    NO_PROXY: "127.0.0.1",
  };
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a client process; asynchronously, as the simulator it talks to runs in this process. */
async function spawn(command: string[], env: Record<string, string>): Promise<Run> {
  const child = Bun.spawn(command, { env, cwd: scratch, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}

function hcloud(args: string[], token?: string): Promise<Run> {
  if (!hasCli) throw new Error(INSTALL_HINT);
  return spawn(["hcloud", "--poll-interval", "10ms", ...args], clientEnv(token));
}

/** Runs a CLI command that must succeed; its stdout. */
async function ok(...args: string[]): Promise<string> {
  const run = await hcloud(args);
  if (run.exitCode !== 0) throw new Error(`hcloud ${args.join(" ")} failed (${run.exitCode}): ${run.stderr}`);
  return run.stdout.trim();
}

/** Runs a CLI command that must fail; the Hetzner error code it printed, e.g. "protected". */
async function failsWith(args: string[], token?: string): Promise<string> {
  const run = await hcloud(args, token);
  expect(run.exitCode).not.toBe(0);
  return /\(([a-z_]+)\)\s*$/.exec(run.stderr.trim())?.[1] ?? run.stderr.trim();
}

/** Polls until the CLI no longer finds the server: `server delete` in this CLI version does not wait. */
async function waitUntilGone(server: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await hcloud(["server", "describe", server])).exitCode === 0) {
    if (Date.now() > deadline) throw new Error(`server ${server} was not deleted within 10 s`);
    await Bun.sleep(10);
  }
}

/** Each (method, path template, status) served and how often, in order of first use. */
function callSummary(records: SimRequestRecord[]): string[] {
  const counts = new Map<string, number>();
  for (const r of records) {
    const key = `${r.method} ${r.path} → ${r.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([call, n]) => `${call}${n > 1 ? ` ×${n}` : ""}`);
}

/** Every call is a documented operation answered with a documented status, and none is a 5xx. */
function expectDocumented(records: SimRequestRecord[]): void {
  const undocumented = records.flatMap((r) => {
    try {
      contract.responseSchemaName(r.method.toLowerCase(), r.path, r.status);
      return r.status >= 500 ? [`${r.method} ${r.path} → ${r.status}`] : [];
    } catch (err) {
      return [`${r.method} ${r.path} → ${r.status}: ${(err as Error).message}`];
    }
  });
  expect(undocumented).toEqual([]);
}

describe.skipIf(!(hasCli && hasPython) && !inCi)("Hetzner's official clients against the simulator", () => {
  test(
    "the hcloud CLI: catalogue, key and firewall, servers by name and by id, paging, updates, protection, errors",
    async () => {
      sim.clearRequests();
      const sent = proxy.recorded.length;
      // Catalogue lookups by name and by id.
      expect(await ok("server-type", "describe", "cx23", "-o", "format={{.ID}}")).toBe("114");
      expect(await ok("server-type", "describe", "114", "-o", "format={{.Name}}")).toBe("cx23");
      expect(await ok("image", "describe", "161547269", "-o", "format={{.Name}}")).toBe("ubuntu-24.04");
      expect(await ok("location", "describe", "2", "-o", "format={{.Name}}")).toBe("nbg1");
      expect(await ok("datacenter", "describe", "2", "-o", "format={{.Name}}")).toBe("nbg1-dc3");
      expect(await ok("datacenter", "describe", "nbg1-dc3")).toContain("cx23");

      // An SSH key and a firewall with labels.
      const keyFile = join(scratch, "cli.pub");
      await writeFile(keyFile, `${publicKeys[0]}\n`);
      expect(
        await ok(
          "ssh-key",
          "create",
          "--name",
          "peer-cli",
          "--public-key-from-file",
          keyFile,
          "--label",
          "owner=peer-cli",
        ),
      ).toMatch(/^SSH key \d+ created$/);
      const keyId = await ok("ssh-key", "describe", "peer-cli", "-o", "format={{.ID}}");
      const rules = join(scratch, "rules.json");
      await writeFile(
        rules,
        JSON.stringify([{ direction: "in", protocol: "tcp", port: "22", source_ips: ["0.0.0.0/0"] }]),
      );
      await ok(
        "firewall",
        "create",
        "--name",
        "peer-cli-fw",
        "--rules-file",
        rules,
        "--label",
        "owner=peer-cli",
      );
      expect(await ok("firewall", "describe", "peer-cli-fw", "-o", "json")).toContain('"owner":"peer-cli"');

      // Servers given names and given ids; the CLI waits on create_server and start_server itself.
      const base = ["server", "create", "--label", "owner=peer-cli"];
      expect(
        await ok(
          ...base,
          "--name",
          "peer-cli-names",
          "--type",
          "cx23",
          "--image",
          "ubuntu-24.04",
          "--location",
          "nbg1",
          "--ssh-key",
          "peer-cli",
          "--firewall",
          "peer-cli-fw",
        ),
      ).toContain("created");
      expect(
        await ok(
          ...base,
          "--name",
          "peer-cli-ids",
          "--type",
          "114",
          "--image",
          "161547269",
          "--location",
          "2",
          "--ssh-key",
          keyId,
        ),
      ).toContain("created");
      const creates = proxy.recorded
        .slice(sent)
        .filter((r) => r.method === "POST" && r.path === "/v1/servers");
      expect(creates.map((r) => (r.body as { image: unknown }).image)).toEqual([161547269, 161547269]);
      const format = "format={{.ID}} {{.Status}} {{.ServerType.Name}} {{.Datacenter.Location.Name}}";
      const [id, ...described] = (await ok("server", "describe", "peer-cli-names", "-o", format)).split(" ");
      expect(described).toEqual(["running", "cx23", "nbg1"]);
      expect(await ok("server", "describe", String(id), "-o", "format={{.Name}}")).toBe("peer-cli-names");
      expect(
        await ok("server", "describe", "peer-cli-ids", "-o", "format={{.Status}} {{.Datacenter.Name}}"),
      ).toBe("running nbg1-dc3");
      const listed = await ok(
        "server",
        "list",
        "-l",
        "owner=peer-cli",
        "-o",
        "noheader",
        "-o",
        "columns=name",
      );
      expect(listed.split("\n").sort()).toEqual(["peer-cli-ids", "peer-cli-names"]);

      // More than 50 keys (made in beforeAll): the CLI pages through them, 50 per request.
      const keys = (await ok("ssh-key", "list", "-o", "noheader", "-o", "columns=name")).split("\n");
      expect(keys.filter((name) => name.startsWith("peer-cli-page-"))).toHaveLength(55);
      const pages = proxy.recorded.slice(sent).filter((r) => r.method === "GET" && r.path === "/v1/ssh_keys");
      expect(pages.some((r) => r.query.includes("page=2"))).toBe(true);

      // Rename and relabel.
      await ok("server", "update", "peer-cli-names", "--name", "peer-cli-renamed");
      await ok("server", "add-label", "peer-cli-renamed", "tier=gold");
      await ok("server", "remove-label", "peer-cli-renamed", "owner");
      expect(await ok("server", "describe", "peer-cli-renamed", "-o", "json")).toContain(
        '"labels":{"tier":"gold"}',
      );
      await ok("ssh-key", "update", "peer-cli", "--name", "peer-cli-key");
      await ok("firewall", "update", "peer-cli-fw", "--name", "peer-cli-fw-2");

      // Protection on and off; delete and wait.
      await ok("server", "enable-protection", "peer-cli-renamed", "delete", "rebuild");
      expect(await failsWith(["server", "delete", "peer-cli-renamed"])).toBe("protected");
      expect(
        await ok("server", "describe", "peer-cli-renamed", "-o", "format={{.Status}} {{.Protection.Delete}}"),
      ).toBe("running true");
      await ok("server", "disable-protection", "peer-cli-renamed", "delete", "rebuild");
      for (const server of ["peer-cli-renamed", "peer-cli-ids"]) {
        await ok("server", "delete", server);
        await waitUntilGone(server);
      }

      // The error paths.
      expect(await failsWith(["server", "list"], "wrong-token")).toBe("unauthorized");
      expect(
        await failsWith(["ssh-key", "create", "--name", "peer-cli-key", "--public-key-from-file", keyFile]),
      ).toBe("uniqueness_error");
      expect(
        await failsWith([
          "server",
          "create",
          "--name",
          "not_a_hostname",
          "--type",
          "cx23",
          "--image",
          "ubuntu-24.04",
        ]),
      ).toBe("invalid_input");
      // The CLI turns the API's not_found for an id into its own message.
      expect(await failsWith(["server", "describe", "1"])).toBe("hcloud: server not found: 1");
      expect(sim.requests().some((r) => r.path === "/servers/{id}" && r.status === 404)).toBe(true);

      const calls = sim.requests();
      expectDocumented(calls);
      console.info(`hcloud CLI calls:\n  ${callSummary(calls).join("\n  ")}`);
    },
    LIFE_TIMEOUT_MS,
  );

  test(
    "the Python library: the same life, through bound objects (ids) and bare names",
    async () => {
      if (!hasPython) throw new Error(INSTALL_HINT);
      sim.clearRequests();
      const keysFile = join(scratch, "keys.json");
      await writeFile(keysFile, JSON.stringify(publicKeys.slice(60)));
      const run = await spawn(
        [PYTHON, join(import.meta.dir, "hcloud_python_life.py"), keysFile],
        clientEnv(),
      );
      if (run.exitCode !== 0) throw new Error(`the Python client's life failed: ${run.stderr}`);
      expect(JSON.parse(run.stdout)).toEqual({
        catalogue_by_id: ["cx23", "ubuntu-24.04", "nbg1", "nbg1-dc3"],
        datacenter_available: ["cax11", "ccx13", "cpx11", "cpx21", "cx23", "cx33"],
        labels: [{ owner: "peer-py" }, { owner: "peer-py" }],
        created: [
          ["peer-py-ids", "running", "cx23", "ubuntu-24.04", "nbg1"],
          ["peer-py-names", "running", "cx23", "ubuntu-24.04", "nbg1"],
        ],
        firewall_applied: [true],
        primary_ip_ids_distinct: true,
        primary_ipv4: [true, true],
        get_by_name_and_id: [true, "peer-py-names"],
        label_selector: ["peer-py-ids"],
        paged_keys: 55,
        renamed: ["peer-py-renamed", { owner: "peer-py", tier: "gold" }, true],
        renamed_key: "peer-py-key",
        renamed_firewall: "peer-py-fw-2",
        protection_on: { delete: true, rebuild: true },
        delete_protected: "protected",
        still_there: "running",
        protection_off: { delete: false, rebuild: false },
        gone: ["not_found", "not_found"],
        firewall_deleted: true,
        errors: {
          unauthorized: "unauthorized",
          not_found: "not_found",
          uniqueness_error: "uniqueness_error",
          invalid_input: "invalid_input",
        },
      });
      const creates = proxy.recorded.filter((r) => r.method === "POST" && r.path === "/v1/servers").slice(-3);
      expect(creates.map((r) => (r.body as { server_type: unknown }).server_type)).toEqual([
        114,
        "cx23",
        114,
      ]);
      expect(proxy.recorded.some((r) => r.path === "/v1/ssh_keys" && r.query.includes("page=2"))).toBe(true);
      const calls = sim.requests();
      expectDocumented(calls);
      console.info(`hcloud-python calls:\n  ${callSummary(calls).join("\n  ")}`);
    },
    LIFE_TIMEOUT_MS,
  );
});
