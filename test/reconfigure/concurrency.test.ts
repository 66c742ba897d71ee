/**
 * PUTs that meet other work on the instance: a queued reconfigure is joined, one that already read the
 * secrets is followed by another, a provision delivers the new secrets itself until it has injected (then
 * a reconfigure follows it), and a failed reconfigure is repaired by the next change.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { pollUntil } from "../../core/wait.ts";
import { reconfigureWorldForFile } from "./world.ts";

const tokenLine = (token: string) => `TELEGRAM_BOT_TOKEN=${token}\n`;

describe("reconfigure requests meeting other work", () => {
  const fixture = reconfigureWorldForFile();

  test("PUTs while a reconfigure is queued join it; it delivers the newest secrets", async () => {
    const { world, put, machineFiles, operationIds } = fixture.current;
    const provisioner = await world.startWorker();
    const { customerId, instanceId } = await fixture.current.provisioned("queued");
    await provisioner.stop();
    const first = fakeCustomerSecrets("queuedOne");
    const second = fakeCustomerSecrets("queuedTwo");

    const answers = [await put(customerId, first), await put(customerId, second)];
    const operationId = `reconfigure:${instanceId}:1`;
    for (const answer of answers) expect(answer.body).toMatchObject({ reconfigure: { operationId } });
    await world.startWorker();
    expect(await world.finish(operationId)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(instanceId).env).toContain(tokenLine(second.telegramBotToken));
    expect(operationIds(instanceId)).toEqual([`provision:${instanceId}:1`, operationId]);
  }, 60_000);

  test("a PUT after a running reconfigure read the secrets: 503 instance_busy, and the retry runs another", async () => {
    const { world, put, machineFiles, stepOutputs } = fixture.current;
    // A long settle keeps the reconfigure running (verifying) after its injection.
    await world.startWorker({ settings: { verifySettleMs: 2_000 } });
    const { customerId, instanceId } = await fixture.current.provisioned("running");
    const first = fakeCustomerSecrets("runningOne");
    const second = fakeCustomerSecrets("runningTwo");
    const firstOp = `reconfigure:${instanceId}:1`;
    expect((await put(customerId, first)).body).toMatchObject({ reconfigure: { operationId: firstOp } });
    await pollUntil(() => stepOutputs(firstOp, "inject-secrets").length === 1, {
      timeoutMs: 20_000,
      description: `${firstOp} injected`,
    });

    const busy = await put(customerId, second);
    expect(busy.status).toBe(503);
    expect(busy.body).toMatchObject({ code: "instance_busy", requestId: expect.any(String) });
    expect(String(busy.body.message)).toContain(firstOp);
    expect(busy.headers.get("retry-after")).toBe("5");
    expect(world.customers.open(customerId)).toEqual(second);
    expect(await world.finish(firstOp)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(instanceId).env).toContain(tokenLine(first.telegramBotToken));

    const retried = await put(customerId, second);
    const secondOp = `reconfigure:${instanceId}:2`;
    expect(retried).toMatchObject({ status: 200, body: { reconfigure: { operationId: secondOp } } });
    expect(await world.finish(secondOp)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(instanceId).env).toContain(tokenLine(second.telegramBotToken));
  }, 60_000);

  test("a PUT before the provision injects: no reconfigure, the provision delivers the new secrets", async () => {
    const { world, put, machineFiles, operationIds } = fixture.current;
    const { customerId } = world.addCustomer("early");
    const requested = await world.requests.requestProvision(customerId);
    const newer = fakeCustomerSecrets("earlyNewer");

    const answer = await put(customerId, newer);
    expect(answer).toMatchObject({ status: 200, body: { reconfigure: null } });
    await world.startWorker();
    expect(await world.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(requested.instanceId).env).toContain(tokenLine(newer.telegramBotToken));
    expect(operationIds(requested.instanceId)).toEqual([requested.operationId]);
  }, 60_000);

  test("a PUT after the provision injected: 503 instance_busy until it is ready, then the retry reconfigures", async () => {
    const { world, put, machineFiles, stepOutputs } = fixture.current;
    await world.startWorker({ settings: { verifySettleMs: 2_000 } });
    const { customerId, secrets } = world.addCustomer("late");
    const requested = await world.requests.requestProvision(customerId);
    await pollUntil(() => stepOutputs(requested.operationId, "inject-secrets").length === 1, {
      timeoutMs: 30_000,
      description: `${requested.operationId} injected`,
    });
    const newer = fakeCustomerSecrets("lateNewer");

    const busy = await put(customerId, newer);
    expect(busy).toMatchObject({ status: 503, body: { code: "instance_busy" } });
    expect(await world.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(requested.instanceId).env).toContain(tokenLine(secrets.telegramBotToken));

    const retried = await put(customerId, newer);
    const operationId = `reconfigure:${requested.instanceId}:1`;
    expect(retried).toMatchObject({ status: 200, body: { reconfigure: { operationId } } });
    expect(await world.finish(operationId)).toMatchObject({ status: "succeeded" });
    expect(machineFiles(requested.instanceId).env).toContain(tokenLine(newer.telegramBotToken));
  }, 60_000);

  test("after a failed reconfigure, the next change runs another that brings the server back to ready", async () => {
    const { world, put, releasePath, machineFiles } = fixture.current;
    await world.startWorker();
    const { customerId, instanceId } = await fixture.current.provisioned("repair");
    const entry = releasePath(instanceId, "app/src/index.ts");
    const entryText = readFileSync(entry, "utf8");
    rmSync(entry);
    await put(customerId, fakeCustomerSecrets("repairOne"));
    expect(await world.finish(`reconfigure:${instanceId}:1`)).toMatchObject({ status: "failed" });
    expect(world.instance(instanceId).status).toBe("degraded");

    writeFileSync(entry, entryText);
    const fixed = fakeCustomerSecrets("repairTwo");
    const answer = await put(customerId, fixed);
    const operationId = `reconfigure:${instanceId}:2`;
    expect(answer.body).toMatchObject({ reconfigure: { operationId } });
    expect(await world.finish(operationId)).toMatchObject({ status: "succeeded" });
    expect(world.instance(instanceId)).toMatchObject({ status: "ready", errorStep: null });
    expect(machineFiles(instanceId).env).toContain(tokenLine(fixed.telegramBotToken));
  }, 60_000);
});
