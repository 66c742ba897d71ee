/**
 * Claude credentials belong to the machine after their first delivery: its Claude Code refreshes them and
 * rotates the refresh token, so a reconfigure rewrites the credentials file only when the customer sent
 * new Claude credentials, never from the stale stored ones.
 */
import { describe, expect, test } from "bun:test";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { createLogger } from "../../core/log.ts";
import { RACHEL8_PATHS } from "../../domain/rachel8.ts";
import { takeBackClaudeCredentials } from "../../jobs/provision/steps/take-back-credentials.ts";
import { connectToServer, type RemoteStepDeps } from "../../jobs/shared/connect-server.ts";
import { createSessionHandover } from "../../remote/handover.ts";
import { reconfigureWorldForFile } from "./world.ts";

describe("the machine's refreshed Claude credentials", () => {
  const fixture = reconfigureWorldForFile();

  const quiet = createLogger({ level: "silent" });

  /** What the remote steps need, from the world: its database, sealer, customer store and SSH port. */
  function deps(): RemoteStepDeps {
    const { world } = fixture.current;
    return {
      ...world,
      db: world.runtime.db,
      sessions: createSessionHandover(),
      settings: { sshPort: world.sim.sshPort, verifySettleMs: 0 },
    };
  }

  /**
   * Time passes on the machine (the access token is a minute from expiry), then its Claude Code handles a
   * message: it refreshes, rotating both tokens. Run over SSH as the app's user.
   */
  async function refreshOnMachine(
    instanceId: string,
  ): Promise<{ accessToken: string; refreshToken: string }> {
    const { machineFiles } = fixture.current;
    const session = await connectToServer(deps(), instanceId, undefined, AbortSignal.timeout(20_000));
    try {
      const ageToken = [
        "import json, os, time",
        `path = os.path.expanduser("~/${RACHEL8_PATHS.credentials}")`,
        "document = json.load(open(path))",
        'document["claudeAiOauth"]["expiresAt"] = int(time.time() * 1000) + 60000',
        'json.dump(document, open(path, "w"))',
      ].join("\n");
      const aged = await session.exec("/usr/bin/python3 -", { stdin: ageToken });
      expect(aged).toMatchObject({ code: 0, stderr: "" });
      expect(await session.exec("claude -p hello")).toMatchObject({
        code: 0,
        stdout: "(simulated Claude) hello\n",
      });
    } finally {
      await session.close();
    }
    return machineFiles(instanceId).credentials;
  }

  test("a reconfigure that changes only the Telegram token leaves the refreshed credentials untouched", async () => {
    const { world, put, machineFiles, stepOutputs } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId, secrets } = await fixture.current.provisioned("keeps");
    const refreshed = await refreshOnMachine(instanceId);
    expect(refreshed.refreshToken).not.toBe(secrets.claude.refreshToken);

    const telegramOnly = { ...secrets, telegramBotToken: fakeCustomerSecrets("keeps2").telegramBotToken };
    expect((await put(customerId, telegramOnly)).status).toBe(200);
    const operationId = `reconfigure:${instanceId}:1`;
    expect(await world.finish(operationId)).toMatchObject({ status: "succeeded" });

    const files = machineFiles(instanceId);
    expect(files.env).toContain(`TELEGRAM_BOT_TOKEN=${telegramOnly.telegramBotToken}\n`);
    expect(files.credentials).toMatchObject(refreshed);
    expect(stepOutputs(operationId, "inject-secrets")).toEqual([
      { changedFiles: ["rachel8/.env"], action: "restarted", credentials: "kept" },
    ]);
    expect(world.instance(instanceId)).toMatchObject({
      claudeCredentialsVersion: 1,
      claudeReloginReason: null,
    });
  }, 60_000);

  test("new Claude credentials from the customer replace the machine's", async () => {
    const { world, put, machineFiles, stepOutputs } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId, secrets } = await fixture.current.provisioned("renews");
    await refreshOnMachine(instanceId);
    const renewed = { ...secrets, claude: fakeCustomerSecrets("renews2").claude };
    expect((await put(customerId, renewed)).status).toBe(200);
    const operationId = `reconfigure:${instanceId}:1`;
    expect(await world.finish(operationId)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(instanceId).credentials).toMatchObject({
      accessToken: renewed.claude.accessToken,
      refreshToken: renewed.claude.refreshToken,
    });
    expect(stepOutputs(operationId, "inject-secrets")).toEqual([
      { changedFiles: [".claude/.credentials.json"], action: "restarted", credentials: "written" },
    ]);
    expect(world.instance(instanceId).claudeCredentialsVersion).toBe(2);
  }, 60_000);

  test("before a server is replaced, the tokens its Claude Code rotated are taken back for the next one", async () => {
    const { world } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId } = await fixture.current.provisioned("takeback");
    const serverId = world.instance(instanceId).hetznerServerId;
    expect(world.customers.claudeState(customerId)).toEqual({ version: 1, deliveredToServerId: serverId });
    const refreshed = await refreshOnMachine(instanceId);
    const outcome = await takeBackClaudeCredentials(
      deps(),
      instanceId,
      undefined,
      AbortSignal.timeout(30_000),
      quiet,
    );
    expect(outcome).toBe("taken-back");
    expect(world.customers.open(customerId).claude).toMatchObject(refreshed);
    expect(world.customers.claudeState(customerId)).toEqual({ version: 2, deliveredToServerId: null });
  }, 60_000);

  test("an unreachable machine keeps its tokens: the stored ones stay marked as delivered to it", async () => {
    const { world } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId } = await fixture.current.provisioned("unreachable");
    const serverId = world.instance(instanceId).hetznerServerId ?? -1;
    world.sim.faults.add({ kind: "ssh_drop", times: 20, serverId });
    const lines: { msg: string; needsRelogin?: boolean }[] = [];
    const log = createLogger({
      level: "warn",
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    });
    const outcome = await takeBackClaudeCredentials(
      deps(),
      instanceId,
      undefined,
      AbortSignal.timeout(30_000),
      log,
    );
    expect(outcome).toBe("unavailable");
    expect(lines).toHaveLength(1);
    expect(lines[0]?.needsRelogin).toBe(true);
    expect(lines[0]?.msg).toContain(
      `needs re-login: could not fetch the Claude credentials back from server ${serverId}`,
    );
    expect(world.customers.claudeState(customerId)).toEqual({ version: 1, deliveredToServerId: serverId });
  }, 60_000);
});
