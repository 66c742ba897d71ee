import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "ssh2";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { parsePinnedHostKey } from "../../remote/host-key.ts";
import { findFreePort } from "../../sim/free-port.ts";
import { createMachineHost } from "../../sim/machine/host.ts";
import type { Machine, MachineHost, MachineHostOptions, MachineView } from "../../sim/machine-contract.ts";
import { waitFor } from "../sim/helpers.ts";

/** A login key pair for tests, in OpenSSH format. */
const loginKey = generateSshKeyPair("tester");
export const userKey = { public: loginKey.publicKey, private: loginKey.privateKey };

export interface TestHost {
  host: MachineHost;
  dataDir: string;
  sshPort: number;
  cleanup(): Promise<void>;
}

/** A MachineHost on a fresh temp dir and free port, with cloud-init made near-instant. */
export async function startTestHost(overrides: Partial<MachineHostOptions> = {}): Promise<TestHost> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), "sim-machine-test-"));
  const sshPort = await findFreePort();
  const host = createMachineHost({ dataDir, sshPort, timeScale: 0.001, cloudInitMs: 1000, ...overrides });
  return {
    host,
    dataDir,
    sshPort,
    async cleanup() {
      await host.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A cloud-config creating user `rachel` with the test key and passwordless sudo, plus extra YAML. */
export function cloudConfig(extra = ""): string {
  return [
    "#cloud-config",
    "users:",
    "  - name: rachel",
    "    shell: /bin/bash",
    "    groups: [sudo]",
    "    sudo: ALL=(ALL) NOPASSWD:ALL",
    "    ssh_authorized_keys:",
    `      - ${userKey.public}`,
    extra,
  ].join("\n");
}

/** Boots the machine and waits until cloud-init has finished (done or error). */
export async function bootAndSettle(machine: Machine): Promise<MachineView> {
  machine.boot();
  return waitFor("cloud-init to finish", () => {
    const view = machine.view();
    return view.cloudInit.state === "done" || view.cloudInit.state === "error" ? view : undefined;
  });
}

/** Creates a machine from the default test cloud-config, boots it and logs in as rachel. */
export async function bootedLogin(
  env: TestHost,
  machine: { serverId: number; name: string; ipv4: string },
): Promise<Client> {
  return connect(await bootAndSettle(await env.host.create({ ...machine, userData: cloudConfig() })));
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ConnectOptions {
  /** Default "rachel". */
  username?: string;
  /** OpenSSH public line the server's key must equal; default the machine's reported host key. */
  pinnedHostKey?: string;
  /** Default the test user key. */
  privateKey?: string;
}

/** Connects, pinning the machine's host key as the provisioner does. */
export function connect(view: MachineView, options: ConnectOptions = {}): Promise<Client> {
  const { username = "rachel", pinnedHostKey = view.hostKeyEd25519, privateKey = userKey.private } = options;
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once("ready", () => resolve(client));
    client.on("error", reject);
    client.connect({
      host: view.address,
      port: view.sshPort,
      username,
      privateKey,
      readyTimeout: 10_000,
      algorithms: { serverHostKey: ["ssh-ed25519"] },
      hostVerifier: (key: Buffer) => key.equals(parsePinnedHostKey(pinnedHostKey).blob),
    });
  });
}

/** Runs one command over an open connection, feeding `stdin`. */
export function exec(client: Client, command: string, stdin = ""): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, stream) => {
      if (error) return reject(error);
      let stdout = "";
      let stderr = "";
      let code: number | null = null;
      stream.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      stream.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      stream.on("exit", (exitCode: number | null) => (code = exitCode));
      stream.on("close", () => resolve({ code, stdout, stderr }));
      stream.end(stdin);
    });
  });
}

/** Connects, runs one command, disconnects. */
export async function sshRun(view: MachineView, command: string, stdin = ""): Promise<ExecResult> {
  const client = await connect(view);
  try {
    return await exec(client, command, stdin);
  } finally {
    client.end();
  }
}
