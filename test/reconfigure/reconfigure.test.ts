/**
 * The reconfigure job end to end: PUT /v1/customers/{id} with new secrets for a customer whose server runs
 * on a fake machine, and what lands there, what it costs at Hetzner, and what a failure leaves behind.
 */
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import type { CustomerSecrets } from "../../domain/customers.ts";
import { reconfigureWorldForFile } from "./world.ts";

function secretValues(secrets: CustomerSecrets): string[] {
  return [secrets.telegramBotToken, secrets.claude.accessToken, secrets.claude.refreshToken];
}

describe("reconfigure job", () => {
  const fixture = reconfigureWorldForFile();

  test("new secrets reach the running server: files 0600, same server, no Hetzner request, unit restarted and verified", async () => {
    const { world, put, machineFiles, stepOutputs } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId, secrets: before } = await fixture.current.provisioned("before");
    const serverId = world.instance(instanceId).hetznerServerId;
    const after = fakeCustomerSecrets("after");
    world.sim.clearRequests();

    const answer = await put(customerId, after);
    expect(answer.status).toBe(200);
    const operationId = `reconfigure:${instanceId}:1`;
    expect(answer.body).toMatchObject({
      customerId,
      created: false,
      reconfigure: { instanceId, operationId },
    });
    const summary = await world.finish(operationId);
    expect(summary).toMatchObject({ status: "succeeded", errorMessage: null });
    expect(summary.phases.map((phase) => phase.step)).toEqual([
      "reset-start-limit",
      "inject-secrets",
      "verify",
    ]);

    const files = machineFiles(instanceId);
    expect(files.env).toContain(`TELEGRAM_BOT_TOKEN=${after.telegramBotToken}\n`);
    expect(files.env).toContain(`OWNER_TELEGRAM_USER_ID=${after.ownerTelegramUserId}\n`);
    expect(files.credentials).toMatchObject({
      accessToken: after.claude.accessToken,
      refreshToken: after.claude.refreshToken,
    });
    expect([files.envMode, files.credentialsMode]).toEqual([0o600, 0o600]);
    expect(world.instance(instanceId)).toMatchObject({ status: "ready", hetznerServerId: serverId });
    expect(world.sim.requests()).toEqual([]);
    expect(stepOutputs(operationId, "inject-secrets")).toEqual([
      {
        changedFiles: [".claude/.credentials.json", "rachel8/.env"],
        action: "restarted",
        credentials: "written",
      },
    ]);
    expect(stepOutputs(operationId, "verify")).toHaveLength(1);

    const outside = [answer.text, JSON.stringify(world.runtime.logs)].join("\n");
    for (const secret of [...secretValues(before), ...secretValues(after)]) {
      expect(outside).not.toContain(secret);
    }
  }, 60_000);

  test("reconfigures in quick succession are not refused by the unit's start limit (5 starts per interval)", async () => {
    const { world, put, machineFiles } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId } = await fixture.current.provisioned("often");
    let latest = fakeCustomerSecrets("often0");
    for (let seq = 1; seq <= 6; seq++) {
      latest = fakeCustomerSecrets(`often${seq}`);
      expect((await put(customerId, latest)).status).toBe(200);
      expect(await world.finish(`reconfigure:${instanceId}:${seq}`)).toMatchObject({ status: "succeeded" });
    }
    expect(machineFiles(instanceId).env).toContain(`TELEGRAM_BOT_TOKEN=${latest.telegramBotToken}\n`);
  }, 60_000);

  test("an identical PUT changes nothing and enqueues nothing", async () => {
    const { world, put, operationIds } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId, secrets } = await fixture.current.provisioned("same");
    const storedAt = world.runtime.db.$client
      .query<{ updated_at: number }, [string]>("select updated_at from customers where id = ?")
      .get(customerId)?.updated_at;

    const answer = await put(customerId, secrets);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ created: false, reconfigure: null });
    expect(Date.parse(String(answer.body.updatedAt))).toBe(storedAt ?? 0);
    expect(operationIds(instanceId)).toEqual([`provision:${instanceId}:1`]);
  }, 60_000);

  test("a customer without a ready instance gets no reconfigure", async () => {
    const { world, put } = fixture.current;
    const { customerId } = world.addCustomer("unprovisioned");
    const answer = await put(customerId, fakeCustomerSecrets("unprovisioned2"));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ created: false, reconfigure: null });
    const fresh = await put("cust-reconfigure-new", fakeCustomerSecrets("brandNew"));
    expect(fresh.status).toBe(201);
    expect(fresh.body).toMatchObject({ created: true, reconfigure: null });
  });

  test("invalid secrets: 422, the stored secrets and the server stay as they were", async () => {
    const { world, put, operationIds, machineFiles } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId, secrets } = await fixture.current.provisioned("keep");
    const filesBefore = machineFiles(instanceId);
    const bad = { ...fakeCustomerSecrets("bad"), telegramBotToken: "not-a-bot-token" };

    const answer = await put(customerId, bad);
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ code: "invalid_fields", fields: ["telegramBotToken"] });
    expect(world.customers.open(customerId)).toEqual(secrets);
    expect(operationIds(instanceId)).toEqual([`provision:${instanceId}:1`]);
    expect(machineFiles(instanceId)).toEqual(filesBefore);
  }, 60_000);

  test("broker down: 503, the secrets are stored, and a later PUT (broker back) delivers them", async () => {
    const { world, put, putWithBrokerDown, machineFiles } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId } = await fixture.current.provisioned("down");
    const after = fakeCustomerSecrets("downAfter");

    const refused = await putWithBrokerDown(customerId, after);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: "unavailable", requestId: expect.any(String) });
    expect(world.customers.open(customerId)).toEqual(after);

    const retried = await put(customerId, after);
    expect(retried.status).toBe(200);
    const operationId = `reconfigure:${instanceId}:1`;
    expect(retried.body).toMatchObject({ reconfigure: { instanceId, operationId } });
    expect(await world.finish(operationId)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(instanceId).env).toContain(`TELEGRAM_BOT_TOKEN=${after.telegramBotToken}\n`);
  }, 60_000);

  test("a unit that fails after the restart: the reconfigure fails with the journal, the server is kept", async () => {
    const { world, put, releasePath } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId } = await fixture.current.provisioned("broken");
    const serverId = world.instance(instanceId).hetznerServerId;
    // The app's entry point is gone: after the restart `bun run …/src/index.ts` exits 1 and the unit crash-loops.
    rmSync(releasePath(instanceId, "app/src/index.ts"));
    world.sim.clearRequests();

    const answer = await put(customerId, fakeCustomerSecrets("brokenAfter"));
    const operationId = `reconfigure:${instanceId}:1`;
    expect(answer.body).toMatchObject({ reconfigure: { operationId } });
    const summary = await world.finish(operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "verify" });
    expect(summary.errorMessage).toContain("unit rachel8.service is");
    expect(summary.errorMessage).toContain('Module not found "/opt/rachel8/current/app/src/index.ts"');
    expect(world.instance(instanceId)).toMatchObject({
      status: "degraded",
      errorStep: "verify",
      errorCode: "unit_not_active",
      hetznerServerId: serverId,
    });
    expect(world.sim.requests()).toEqual([]);
    expect((await world.leftAtHetzner(instanceId)).servers.map((server) => server.id)).toEqual([
      serverId ?? -1,
    ]);
  }, 60_000);
});
