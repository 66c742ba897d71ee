/**
 * The lab network: processes started in it see only the lab's interfaces; ports cross between this host's
 * loopback and the lab's through relays; a machine namespace on the bridge connects from its own address;
 * closing the lab deletes every namespace it made. Needs root and iproute2; in CI it runs, never skips.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect as connectUnix } from "node:net";
import { join } from "node:path";
import { createLab, type Lab } from "../../sim/container/lab.ts";
import { missingContainerRequirements } from "../../sim/container/requirements.ts";
import { runCommand } from "../support/run-command.ts";

const inCi = process.env.CI === "true";
const missing = missingContainerRequirements();
const LISTENER = join(import.meta.dir, "../support/lab-listener.ts");

/** Starts the lab listener on `host` behind `argvPrefix` (a namespace); resolves with its port and lines. */
async function startListenerIn(listeners: { kill(): void }[], argvPrefix: string[], host: string) {
  const child = Bun.spawn([...argvPrefix, "bun", LISTENER, host], { stdout: "pipe", stderr: "ignore" });
  const lines: { port?: number; peer?: string }[] = [];
  const reader = (child.stdout as ReadableStream<Uint8Array>)
    .pipeThrough(new TextDecoderStream())
    .getReader();
  void (async () => {
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += value;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
    }
  })();
  listeners.push(child);
  while (lines.length === 0) await Bun.sleep(20);
  return { child, port: lines[0]?.port ?? 0, lines };
}

describe.skipIf(missing.length > 0 && !inCi)("the lab network", () => {
  let lab: Lab;
  const listeners: { kill(): void }[] = [];
  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`the lab needs: ${missing.join("; ")}`);
    lab = await createLab();
  });
  afterAll(async () => {
    for (const listener of listeners) listener.kill();
    await lab?.close();
  });

  test("a process in the lab sees only the lab's loopback and bridge", async () => {
    const links = await runCommand(lab.command(["ip", "-o", "-4", "addr"]));
    expect(links.exitCode).toBe(0);
    const addresses = [...links.stdout.matchAll(/inet (\S+)/g)].map((m) => m[1]).sort();
    expect(addresses).toEqual(["10.0.0.1/8", "127.0.0.1/8"]);
  });

  test("ports cross both ways, and a machine connects from its own address", async () => {
    // This host's loopback -> the lab's loopback.
    const outside = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("from the host") });
    try {
      await lab.exposeHostPorts([outside.port ?? 0]);
      const fetched = await runCommand(
        lab.command([
          "bun",
          "-e",
          `console.log(await (await fetch("http://127.0.0.1:${outside.port}")).text())`,
        ]),
      );
      expect(fetched.stdout).toBe("from the host\n");
    } finally {
      outside.stop(true);
    }

    // The lab's loopback -> this host's loopback.
    const inside = await startListenerIn(listeners, lab.command([]), "127.0.0.1");
    await lab.publishLabPorts([inside.port]);
    expect(await (await fetch(`http://127.0.0.1:${inside.port}/published`)).text()).toBe("ok\n");

    // A machine namespace on the bridge reaches the gateway from its own address.
    const gatewayListener = await startListenerIn(listeners, lab.command([]), lab.gateway);
    const netns = await lab.attach("77", "10.7.0.1");
    const request = `console.log(await (await fetch("http://${lab.gateway}:${gatewayListener.port}/from-machine")).text())`;
    const fromMachine = await runCommand(["nsenter", `--net=${netns}`, "--", "bun", "-e", request]);
    expect(fromMachine.stdout.trim()).toBe("ok");
    expect(gatewayListener.lines.find((line) => line.peer)?.peer).toBe("10.7.0.1");

    // And a Unix socket from this host leads to a port on the machine's address.
    const onMachine = await startListenerIn(listeners, ["nsenter", `--net=${netns}`, "--"], "10.7.0.1");
    const socket = await lab.forward("10.7.0.1", onMachine.port);
    const answer = await new Promise<string>((resolve, reject) => {
      const conn = connectUnix(socket, () => conn.write("GET /forwarded HTTP/1.0\r\nHost: machine\r\n\r\n"));
      let text = "";
      conn.on("data", (data) => {
        text += data.toString();
      });
      conn.on("end", () => resolve(text));
      conn.on("error", reject);
    });
    expect(answer).toContain("200 OK");
    expect(onMachine.lines.find((line) => line.peer)?.peer).toBe(lab.gateway);

    await lab.detach("77");
    expect(existsSync(netns)).toBe(false);
  });

  test("closing the lab deletes its namespaces", async () => {
    const other = await createLab();
    await other.attach("5", "10.5.0.1");
    await other.close();
    const list = (await runCommand(["ip", "netns", "list"])).stdout;
    expect(list).not.toContain(other.netns);
  });
});

describe.skipIf(missing.length > 0 && !inCi)("a lab whose simulator was killed", () => {
  test("is swept by the next lab: its processes stopped, its namespaces deleted", async () => {
    const crashed = Bun.spawn(["bun", join(import.meta.dir, "crashed-lab.ts")], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const reader = (crashed.stdout as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    const { value } = await reader.read();
    const left = JSON.parse(value ?? "{}") as { netns: string; pids: number[] };
    crashed.kill("SIGKILL");
    await crashed.exited;
    expect((await runCommand(["ip", "netns", "list"])).stdout).toContain(left.netns);

    const next = await createLab();
    try {
      const list = (await runCommand(["ip", "netns", "list"])).stdout;
      expect(list).not.toContain(left.netns);
      for (const pid of left.pids) expect(existsSync(`/proc/${pid}/ns`)).toBe(false);
    } finally {
      await next.close();
    }
  });
});
