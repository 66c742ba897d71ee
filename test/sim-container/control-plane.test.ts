/**
 * The control plane on a real Debian 13 box: deploy/install.sh installs a local release of the provisioner (a
 * tarball carrying its production node_modules, the pinned Bun beside it: the box reaches nothing outside the
 * lab) into a container booted under real systemd — itself a server of the simulated Hetzner, whose API the
 * worker then talks to. Its three units start under the real systemd, /healthz answers from the lab, a paying
 * customer's provision reaches Hetzner, and `systemctl stop` drains each process to a clean exit with that
 * provision's step in flight, as the journal shows.
 * Needs root, debootstrap and systemd-container (.ci/install-tools); in CI it runs, never skips.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { newWebhookSecret, signStandard, standardPayload } from "../../harness/webhooks/world.ts";
import { missingContainerRequirements } from "../../sim/container/requirements.ts";
import { ensureRootfs, rootfsPath } from "../../sim/container/rootfs.ts";
import { ContainerMachine, type Simulator, startSimulator } from "../../sim/index.ts";
import { packOfflineRelease } from "./offline-release.ts";

const inCi = process.env.CI === "true";
const missing = missingContainerRequirements();
/** A first root filesystem build (~80 s) plus a boot and an install, on a loaded 2-core machine. */
setDefaultTimeout(10 * 60_000);

const APP = "rachel-provisioner";
const UNITS = ["rachel-broker", "rachel-api", "rachel-worker"] as const;
const API_PORT = 8080;
const PUBLIC_API_PORT = 8081;
const CUSTOMER = "cus-box";
/** What each process logs as it drains on SIGTERM, in order (`name: msg` of its pino lines). */
const DRAIN_LINES = [
  "api: api stopping",
  "api: api stopped",
  "worker: signal received",
  "worker: worker stopping",
  "worker: worker stopped",
  "broker: stopping broker",
  "broker: broker stopped",
];

describe.skipIf(missing.length > 0 && !inCi)("the control plane installed on a real Debian 13 box", () => {
  let sim: Simulator;
  let work: string;
  let box: ContainerMachine;
  /** Ways into the box's private (8080) and public (8081) listeners from the lab. */
  let privateSocket: string;
  let publicSocket: string;
  const webhookSecret = newWebhookSecret();
  const timings: string[] = [];

  /** Runs `script` as root on the box; resolves with its stdout. */
  const onBox = (script: string) => box.exec(["sh", "-c", script]);
  const timed = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await step();
    timings.push(`${what} ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return result;
  };

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`container machines need: ${missing.join("; ")}`);
    work = mkdtempSync(join(tmpdir(), "control-plane-box-"));
    // First in the lane by name: on a fresh machine this builds the root filesystem, outside the boot's deadline.
    await timed(existsSync(rootfsPath()) ? "rootfs cached" : "rootfs built", () => ensureRootfs());
    const release = timed("release packed", () => packOfflineRelease(work));
    sim = await startSimulator({ machines: "container", timeScale: 0.01 });
    const lab = sim.lab;
    if (!lab) throw new Error("a simulator with container machines has a lab");
    // The box's worker reaches the simulated Hetzner API on the lab's gateway, as a box reaches Hetzner's.
    await lab.exposeHostPorts([Number(new URL(sim.baseUrl).port)], lab.gateway);
    box = await timed("box booted", () => bootBox(sim));
    const { tarball, bun } = await release;
    await timed("release copied in", async () => {
      await box.exec(["sh", "-c", 'cat >"$1"', "sh", `/root/${APP}.tar.gz`], Bun.file(tarball));
      await box.exec(["sh", "-c", "cat >/root/bun && chmod 0755 /root/bun"], Bun.file(bun));
      await onBox(`tar -xzf /root/${APP}.tar.gz -C /root`);
    });
  });
  afterAll(async () => {
    console.info(`control-plane box: ${timings.join(", ")}`);
    await sim?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const install = () =>
    onBox(`/root/${APP}/deploy/install.sh --from /root/${APP}.tar.gz --bun /root/bun 2>&1`);
  const unitProps = async (unit: string, ...names: string[]): Promise<Record<string, string>> => {
    const shown = await onBox(`systemctl show ${unit} ${names.map((name) => `-p ${name}`).join(" ")}`);
    return Object.fromEntries(
      shown
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  };

  test("install.sh installs offline; without the Hetzner token the units are enabled, not started", async () => {
    const output = await timed("first install", install);
    expect(output).toContain("==> installing the code into /opt/rachel-provisioner.new");
    expect(output).toContain("Still to fill in:");
    expect(output).toContain(`write it into /etc/${APP}/secrets/hcloud_token`);
    for (const unit of UNITS) {
      expect(await onBox(`systemctl is-enabled ${unit}`)).toBe("enabled\n");
      expect(await onBox(`systemctl is-active ${unit} || true`)).toBe("inactive\n");
    }
    expect(await onBox(`/usr/local/bin/bun --version`)).toBe(`${Bun.version}\n`);
    expect(await onBox(`stat -c '%a %U:%G' /etc/${APP}/env /etc/${APP}/secrets/ops_token`)).toBe(
      `600 root:root\n600 rachel:rachel\n`,
    );
  });

  test("filled in, a second run changes nothing and starts the units under the real systemd", async () => {
    // What the operator fills in: the token, the listeners' addresses, the Hetzner endpoint, this box's IP.
    const settings = {
      API_HOST: box.address,
      PUBLIC_API_HOST: box.address,
      HCLOUD_ENDPOINT: `http://${sim.lab?.gateway}:${new URL(sim.baseUrl).port}/v1`,
      PUBLIC_BASE_URL: "https://provisioner.lab.test",
      CONTROL_PLANE_IPS: `${box.address}/32`,
    };
    for (const [name, value] of Object.entries(settings))
      await box.exec(["sed", "-i", `s|^${name}=.*|${name}=${value}|`, `/etc/${APP}/env`]);
    await box.exec(["sh", "-c", 'printf %s "$1" >"$2"', "sh", sim.token, `/etc/${APP}/secrets/hcloud_token`]);
    // The payment provider's signing secret, as the installer's to-do list says: a file, then its line uncommented.
    const webhookFile = `/etc/${APP}/secrets/standard_webhook_secret`;
    await box.exec([
      "sh",
      "-c",
      'install -m 0600 -o rachel -g rachel /dev/null "$2" && printf %s "$1" >"$2"',
      "sh",
      webhookSecret,
      webhookFile,
    ]);
    await box.exec([
      "sed",
      "-i",
      `s|^# STANDARD_WEBHOOK_SECRET_FILE=.*|STANDARD_WEBHOOK_SECRET_FILE=${webhookFile}|`,
      `/etc/${APP}/env`,
    ]);

    const output = await timed("second install (starts the units)", install);
    expect(output).not.toContain("==> installing the code");
    expect(output).not.toContain("the Hetzner Cloud API token");
    const lab = sim.lab;
    if (!lab) throw new Error("no lab");
    privateSocket = await lab.forward(box.address, API_PORT);
    publicSocket = await lab.forward(box.address, PUBLIC_API_PORT);
    const healthz = await timed("units up, /healthz answering", () => waitForHealth(privateSocket, box));
    expect(healthz).toEqual({ status: "ok" });
    // Taking jobs: from here a SIGTERM must drain the worker (before, it has nothing to drain).
    await timed("worker taking jobs", () => waitForWorker(box));
    for (const unit of UNITS)
      expect(await unitProps(unit, "ActiveState", "NRestarts", "User")).toEqual({
        ActiveState: "active",
        NRestarts: "0",
        User: "rachel",
      });
    const ready = await labGet(privateSocket, box, "/readyz");
    expect(ready).toEqual({ status: 200, body: { status: "ready" } });
  });

  test("a paying customer's provision is in flight at Hetzner when the stop comes", async () => {
    // Hetzner answers 503 to every SSH key upload: the worker's client retries it (5 tries over about 7.5 s).
    sim.faults.add({
      kind: "error",
      method: "POST",
      path: "/ssh_keys",
      status: 503,
      code: "unavailable",
      times: Infinity,
    });
    const serviceToken = (await onBox(`cat /etc/${APP}/secrets/service_token`)).trim();
    const registered = await fetch(`http://${box.address}:${API_PORT}/v1/customers/${CUSTOMER}`, {
      unix: privateSocket,
      method: "PUT",
      headers: { "content-type": "application/json", authorization: `Bearer ${serviceToken}` },
      body: JSON.stringify(fakeCustomerSecrets("box")),
    });
    expect(registered.ok).toBe(true);
    const paid = signStandard(standardPayload({ customerId: CUSTOMER, subscriptionId: "sub_box" }), [
      webhookSecret,
    ]);
    const delivered = await fetch(`http://${box.address}:${PUBLIC_API_PORT}/v1/webhooks/standard`, {
      unix: publicSocket,
      method: "POST",
      headers: { "content-type": "application/json", ...paid.headers },
      body: paid.body,
    });
    expect(delivered.ok).toBe(true);
    await timed("provision reaching Hetzner", async () => {
      const deadline = performance.now() + 30_000;
      while (!sim.requests().some((r) => r.method === "POST" && r.path === "/ssh_keys" && r.status === 503)) {
        if (performance.now() > deadline)
          throw new Error("the box's worker never asked Hetzner for the SSH key");
        await Bun.sleep(50);
      }
    });
  });

  test("systemctl stop, the broker named first, drains each process to a clean exit before the broker's", async () => {
    await timed("systemctl stop", () => onBox(`systemctl stop ${UNITS.join(" ")}`));
    for (const unit of UNITS) {
      const props = await unitProps(unit, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus");
      // ExecMainCode 1 is CLD_EXITED: the process returned on its own, status 0; not killed by a signal.
      expect({ unit, ...props } as Record<string, string>).toEqual({
        unit,
        ActiveState: "inactive",
        Result: "success",
        ExecMainCode: "1",
        ExecMainStatus: "0",
      });
    }
    // The three journals merged in time order, each process's own lines as `name: msg`.
    const journal = await onBox(
      `journalctl ${UNITS.map((unit) => `-u ${unit}`).join(" ")} -o cat --no-pager`,
    );
    const lines = journal.split("\n").flatMap((line) => {
      if (!line.startsWith("{")) return [];
      const { name, msg, outcome } = JSON.parse(line) as { name: string; msg: string; outcome?: string };
      return [`${name}: ${msg}${outcome ? ` ${outcome}` : ""}`];
    });
    const drain = lines.filter((line) => DRAIN_LINES.includes(line));
    // The broker goes last whatever the order on the command line (PartOf=): the worker drains while it answers.
    expect(drain.slice(-2)).toEqual(["broker: stopping broker", "broker: broker stopped"]);
    for (const name of ["api", "worker"])
      expect(drain.filter((line) => line.startsWith(`${name}:`))).toEqual(
        DRAIN_LINES.filter((line) => line.startsWith(`${name}:`)),
      );
    // The provision's step was in flight: the drain let its attempt end and recorded it (to be retried on the
    // next start) before the worker stopped.
    const worker = lines.filter((line) => line.startsWith("worker: "));
    const stopping = worker.indexOf("worker: worker stopping");
    expect(stopping).toBeGreaterThan(-1);
    expect(worker.slice(stopping).filter((line) => line.startsWith("worker: step attempt"))).toEqual([
      expect.stringMatching(/^worker: step attempt (retrying|interrupted)$/),
    ]);
    expect(worker.at(-1)).toBe("worker: worker stopped");
    expect(lines).not.toContain("worker: steps ignored the abort; closing the worker by force");
    expect(journal).not.toContain("Connection lost");
    expect(journal).not.toContain("SIGKILL");
  });
});

/** Creates a Debian 13 server in the simulator and waits for its real systemd to finish booting it. */
async function bootBox(sim: Simulator): Promise<ContainerMachine> {
  const response = await fetch(`${sim.endpoint}/servers`, {
    method: "POST",
    headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: "control-plane",
      server_type: "cx23",
      image: "debian-13",
      location: "nbg1",
      user_data: "#cloud-config\nmanage_etc_hosts: true\n",
    }),
  });
  const { server } = (await response.json()) as { server: { id: number } };
  const box = sim.machines.get(server.id);
  if (!(box instanceof ContainerMachine)) throw new Error("the box is not a container machine");
  const deadline = performance.now() + 120_000;
  for (;;) {
    const state = await box
      .exec(["sh", "-c", "systemctl is-system-running --wait || true"])
      .then((out) => out.trim())
      .catch(() => "not started");
    if (state === "running") return box;
    if (state === "degraded")
      throw new Error(`the box booted degraded:\n${await box.exec(["systemctl", "--failed", "--no-pager"])}`);
    if (performance.now() > deadline) throw new Error(`the box did not boot: ${state}`);
    await Bun.sleep(200);
  }
}

/** GET `path` on the box's private listener through `socket`, a way in from the lab (Lab.forward). */
async function labGet(socket: string, box: ContainerMachine, path: string) {
  const response = await fetch(`http://${box.address}:${API_PORT}${path}`, { unix: socket });
  return { status: response.status, body: (await response.json()) as unknown };
}

async function waitForHealth(socket: string, box: ContainerMachine): Promise<unknown> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const answer = await labGet(socket, box, "/healthz").catch((error: Error) => error);
    if (!(answer instanceof Error) && answer.status === 200) return answer.body;
    if (performance.now() > deadline) throw new Error(`/healthz never answered: ${String(answer)}`);
    await Bun.sleep(250);
  }
}

/** Waits for the worker's "worker started" line: it listens to the broker and for SIGTERM. */
async function waitForWorker(box: ContainerMachine): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const journal = await box.exec(["journalctl", "-u", "rachel-worker", "-o", "cat", "--no-pager"]);
    if (journal.includes('"msg":"worker started"')) return;
    if (performance.now() > deadline) throw new Error(`the worker never started:\n${journal}`);
    await Bun.sleep(250);
  }
}
