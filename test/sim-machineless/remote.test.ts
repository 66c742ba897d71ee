/**
 * A machineless server against the provisioner's own remote functions (remote/), with no services:
 * it phones home from its own address with the host key it presents, and answers the first-boot check,
 * injection (idempotent, restart on change), the Claude login check and the unit checks by what they ask;
 * it refuses a stranger's key and any command it does not model.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { APP_HOME, APP_USER } from "../../domain/ownership.ts";
import { RACHEL8_UNIT_NAME, rachel8Unit } from "../../domain/rachel8.ts";
import { buildUserData, SETUP_COMPLETE_MARKER } from "../../jobs/provision/cloud-init.ts";
import { secretFiles } from "../../jobs/provision/steps/inject-secrets.ts";
import { checkClaudeLogin } from "../../remote/claude-login.ts";
import { UnitNotActiveError } from "../../remote/errors.ts";
import { confirmFirstBoot } from "../../remote/first-boot.ts";
import { injectSecrets } from "../../remote/inject.ts";
import type { RemoteSession } from "../../remote/session.ts";
import { connectPinned } from "../../remote/ssh.ts";
import { verifyActive } from "../../remote/verify.ts";
import { type Simulator, startSimulator } from "../../sim/index.ts";

const instanceId = "machineless-1";
const clientKey = generateSshKeyPair("control-plane");
const sha256 = createHash("sha256").update("a bundle").digest("hex");
const callbacks: { peer: string | undefined; form: URLSearchParams }[] = [];
let sim: Simulator;
let callback: ReturnType<typeof Bun.serve>;
let server: { ipv4: string; hostKey: string };
let session: RemoteSession;

beforeAll(async () => {
  callback = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request, self) {
      callbacks.push({
        peer: self.requestIP(request)?.address,
        form: new URLSearchParams(await request.text()),
      });
      return Response.json({ status: "accepted" });
    },
  });
  sim = await startSimulator({ timeScale: 0, machines: "machineless" });
  const userData = buildUserData({
    instanceId,
    username: APP_USER,
    authorizedKey: clientKey.publicKey,
    callbackUrl: `http://127.0.0.1:${callback.port}/v1/cloud-init/${instanceId}/ready?token=t0k3n`,
    bundle: { url: `http://127.0.0.1:${callback.port}/v1/bundles/${sha256}`, sha256, token: "b".repeat(24) },
  });
  const created = await fetch(`${sim.endpoint}/servers`, {
    method: "POST",
    headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: "machineless-1",
      server_type: "cx23",
      image: "ubuntu-24.04",
      user_data: userData,
    }),
  });
  const body = (await created.json()) as { server: { public_net: { ipv4: { ip: string } } } };
  for (let waited = 0; callbacks.length === 0 && waited < 5000; waited += 10) await Bun.sleep(10);
  const hostKey = callbacks[0]?.form.get("pub_key_ed25519")?.trim() ?? "";
  server = { ipv4: body.server.public_net.ipv4.ip, hostKey };
  session = await connectPinned({
    host: server.ipv4,
    port: sim.sshPort,
    username: APP_USER,
    privateKey: clientKey.privateKey,
    expectedHostKey: hostKey,
  });
});
afterAll(async () => {
  await session?.close();
  await sim?.stop();
  callback?.stop(true);
});

test("phone_home comes once, from the server's own address, with the host key its SSH presents", () => {
  expect(callbacks).toHaveLength(1);
  expect(callbacks[0]?.peer).toBe(server.ipv4);
  expect(callbacks[0]?.form.get("instance_id")).toEqual(expect.any(String));
  const [machine] = sim.machines.list();
  expect(machine?.view().hostKeyEd25519.startsWith(server.hostKey)).toBe(true);
});

test("the first-boot check finds cloud-init done and the setup marker naming the bundle", async () => {
  const result = await confirmFirstBoot(session, { markerPath: SETUP_COMPLETE_MARKER });
  expect(result).toMatchObject({ cloudInit: "done", bundleId: sha256 });
  await expect(confirmFirstBoot(session, { markerPath: "/var/lib/elsewhere" })).rejects.toThrow(
    /setup marker \/var\/lib\/elsewhere missing/,
  );
});

test("before injection nobody is logged in and the unit is not active", async () => {
  const credentialsPath = ".claude/.credentials.json";
  await expect(checkClaudeLogin(session, { credentialsPath })).rejects.toMatchObject({
    code: "not_logged_in",
  });
  await expect(verifyActive(session, RACHEL8_UNIT_NAME, { settleMs: 0 })).rejects.toBeInstanceOf(
    UnitNotActiveError,
  );
});

test("injection writes what differs, starts the unit, restarts it on a change; then the checks pass", async () => {
  const unit = { name: RACHEL8_UNIT_NAME, text: rachel8Unit({ user: APP_USER, home: APP_HOME }) };
  const files = secretFiles(fakeCustomerSecrets("machineless"));
  const first = await injectSecrets(session, files, unit);
  expect(first).toEqual({ changedFiles: files.map((f) => f.path), unitChanged: true, action: "started" });
  expect(await injectSecrets(session, files, unit)).toEqual({
    changedFiles: [],
    unitChanged: false,
    action: "started",
  });
  const [credentials, env] = files;
  if (!credentials || !env) throw new Error("no secret files");
  const changed = [credentials, { ...env, content: `${env.content}EXTRA=1\n` }];
  expect(await injectSecrets(session, changed, unit)).toEqual({
    changedFiles: [env.path],
    unitChanged: false,
    action: "restarted",
  });
  const login = await checkClaudeLogin(session, { credentialsPath: credentials.path });
  expect(login.cliPath).toBe("/usr/local/bin/claude");
  const started = performance.now();
  expect(await verifyActive(session, RACHEL8_UNIT_NAME, { settleMs: 300, pollMs: 100 })).toEqual({
    checks: 4,
    activeForMs: 300,
  });
  // The settle is a wait by design: the server sleeps it, as the real checks would.
  expect(performance.now() - started).toBeGreaterThanOrEqual(300);
});

test("a command it does not model exits 127 naming itself; a stranger's key is refused", async () => {
  const result = await session.exec("uname -a");
  expect(result.code).toBe(127);
  expect(result.stderr).toContain("machineless server: no answer for 'uname -a'");
  const stranger = generateSshKeyPair("stranger");
  await expect(
    connectPinned({
      host: server.ipv4,
      port: sim.sshPort,
      username: APP_USER,
      privateKey: stranger.privateKey,
      expectedHostKey: server.hostKey,
    }),
  ).rejects.toThrow();
});
