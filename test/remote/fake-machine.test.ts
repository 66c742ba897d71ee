/**
 * The same injection and verification against the simulator's fake machine (sim/machine), whose sudo,
 * systemctl and journalctl are its own: the remote module must work against it as against OpenSSH.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import {
  RACHEL8_PATHS,
  RACHEL8_UNIT_NAME,
  rachel8Unit,
  renderCredentials,
  renderEnv,
} from "../../domain/rachel8.ts";
import { UnitNotActiveError } from "../../remote/errors.ts";
import { injectSecrets, type SecretFile } from "../../remote/inject.ts";
import type { RemoteSession } from "../../remote/session.ts";
import { connectPinned } from "../../remote/ssh.ts";
import { verifyActive } from "../../remote/verify.ts";
import { findFreePort } from "../../sim/free-port.ts";
import { createMachineHost } from "../../sim/machine/host.ts";
import type { Machine, MachineHost } from "../../sim/machine/types.ts";

const HOME = "/home/rachel";
const CLOUD_INIT_DEADLINE_MS = 30_000;

function secretFiles(): SecretFile[] {
  const env = renderEnv({
    telegramBotToken: "5566778899:AAE-fake_machine_token_abcdefghijklmnop",
    ownerTelegramUserId: 3,
    sharedFolderPath: `${HOME}/${RACHEL8_PATHS.sharedDir}`,
    nodeEnv: "production",
    logLevel: "info",
    aiProvider: "claudecode",
  });
  const credentials = renderCredentials({
    accessToken: "sk-ant-oat01-fake-machine",
    refreshToken: "sk-ant-ort01-fake-machine",
    expiresAt: 1_767_225_600_000,
    scopes: ["user:inference", "user:profile"],
  });
  return [
    { path: RACHEL8_PATHS.credentials, content: credentials },
    { path: RACHEL8_PATHS.env, content: env },
  ];
}

describe("injectSecrets + verifyActive against the simulator's fake machine", () => {
  let dataDir: string;
  let host: MachineHost;
  let machine: Machine;
  let session: RemoteSession;
  const unit = { name: RACHEL8_UNIT_NAME, text: rachel8Unit({ user: "rachel", home: HOME }) };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "rachel-fake-machine-"));
    host = createMachineHost({
      dataDir,
      sshPort: await findFreePort(),
      timeScale: 0.001,
      cloudInitMs: 1_000,
    });
    const key = generateSshKeyPair("provisioner");
    const userData = [
      "#cloud-config",
      "users:",
      "  - name: rachel",
      '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
      "    shell: /bin/bash",
      "    ssh_authorized_keys:",
      `      - ${key.publicKey}`,
      // The unit runs the current release's bun and app from ~/rachel8: lay out a release of the box's stand-ins
      // as a boot from the bundle does.
      "runcmd:",
      "  - [sh, -c, 'r=/opt/rachel8/releases/r && mkdir -p $r/bin $r/app /home/rachel/rachel8 && cp /opt/sim/lib/bun $r/bin/bun && cp -r /opt/sim/lib/rachel8/src $r/app/ && ln -s $r /opt/rachel8/current']",
      "",
    ].join("\n");
    machine = await host.create({ serverId: 4101, name: "remote-test", ipv4: "127.41.0.1", userData });
    machine.boot();
    const deadline = Date.now() + CLOUD_INIT_DEADLINE_MS;
    while (machine.view().cloudInit.state !== "done" && Date.now() < deadline) await Bun.sleep(20);
    const view = machine.view();
    expect(view.cloudInit).toMatchObject({ state: "done", error: null });
    session = await connectPinned({
      host: view.address,
      port: view.sshPort,
      username: "rachel",
      privateKey: key.privateKey,
      expectedHostKey: view.hostKeyEd25519,
    });
  });

  afterAll(async () => {
    await session?.close();
    await host?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("before the .env exists the unit stays inactive, and the journal says why", async () => {
    await injectSecrets(session, secretFiles().slice(0, 1), unit);
    const err = await verifyActive(session, RACHEL8_UNIT_NAME, { settleMs: 200, pollMs: 50 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnitNotActiveError);
    expect((err as UnitNotActiveError).state).toBe("inactive");
    expect((err as UnitNotActiveError).journal.join("\n")).toContain("ConditionPathExists");
  });

  test("with both files the unit starts and stays active; a rerun changes nothing", async () => {
    const first = await injectSecrets(session, secretFiles(), unit);
    expect(first).toEqual({ changedFiles: [RACHEL8_PATHS.env], unitChanged: false, action: "restarted" });
    const settled = await verifyActive(session, RACHEL8_UNIT_NAME, { settleMs: 300, pollMs: 50 });
    expect(settled.checks).toBeGreaterThanOrEqual(2);

    const again = await injectSecrets(session, secretFiles(), unit);
    expect(again).toEqual({ changedFiles: [], unitChanged: false, action: "started" });
    const sandbox = machine.view().sandboxDir;
    for (const file of secretFiles()) {
      expect(statSync(join(sandbox, HOME, file.path)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(sandbox, "etc/systemd/system", RACHEL8_UNIT_NAME)).mode & 0o777).toBe(0o644);
  });
});
