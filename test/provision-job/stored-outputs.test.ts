/**
 * A provision parked across a deploy: its step_runs rows were written by the previous release. They must
 * still parse and carry the provision to ready; a stored output whose shape no longer fits fails the
 * provision with a clear error naming the step and the field, and the rollback still cleans up.
 */
import { describe, expect, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { operations, stepRuns } from "../../db/schema.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { stepRunsOf } from "../runner/steps.ts";
import { storedBy291a24d } from "./fixtures/stored-291a24d.ts";

type StepRunRow = typeof stepRuns.$inferSelect;

describe("step outputs stored by the previous release", () => {
  const fixture = provisionWorldForFile();

  /** A provision stopped (by a worker shutdown) in verify, its first five steps done: parked, as across a deploy. */
  async function parkedInVerify(marker: string) {
    const w = fixture.current;
    // A long settle keeps verify running until the worker stops and interrupts it.
    const worker = await w.startWorker({ settings: { verifySettleMs: 30_000 } });
    const { customerId } = w.addCustomer(marker);
    const { instanceId, operationId } = await w.requests.requestProvision(customerId);
    await pollUntil(() => stepRunsOf(w.runtime.db, operationId).some((row) => row.step === "verify"), {
      timeoutMs: 30_000,
      description: "the provision to reach verify",
    });
    await worker.stop();
    const op = w.runtime.db.select().from(operations).where(eq(operations.id, operationId)).get();
    expect(op?.status).toBe("parked");
    return { instanceId, operationId };
  }

  /**
   * Replaces the operation's rows by those release 291a24d stored, with this run's ids, server and host key
   * (`edit` may then change an output's text), followed by the interrupted verify attempt.
   */
  function restoreAsStoredBy291a24d(
    ids: { instanceId: string; operationId: string },
    edit: (step: string, output: string) => string = (_step, output) => output,
  ): StepRunRow[] {
    const db = fixture.current.runtime.db;
    const live = stepRunsOf(db, ids.operationId);
    const instance = fixture.current.instance(ids.instanceId);
    const liveCreate = JSON.parse(live.find((row) => row.step === "create-server")?.output ?? "{}");
    const thisRun: Record<string, Record<string, unknown>> = {
      "ssh-key": { sshKeyId: instance.sshKeyId },
      firewall: { firewallId: instance.firewallId },
      "create-server": {
        serverId: instance.hetznerServerId,
        location: instance.location,
        actionIds: liveCreate.actionIds,
        createdAt: liveCreate.createdAt,
      },
      "await-cloud-init": { hostKey: instance.reportedHostKey },
    };
    const firstStart = live[0]?.startedAt ?? 0;
    const shift = firstStart - (storedBy291a24d.rows[0]?.startedAt ?? 0);
    const interrupted = live.filter((row) => row.step === "verify");
    db.delete(stepRuns).where(eq(stepRuns.operationId, ids.operationId)).run();
    for (const { id: _id, ...row } of storedBy291a24d.rows) {
      // Object.assign keeps the stored key order, so the text is what that release wrote for these values.
      const output = JSON.stringify(Object.assign(JSON.parse(row.output), thisRun[row.step] ?? {}));
      db.insert(stepRuns)
        .values({
          ...row,
          instanceId: ids.instanceId,
          operationId: ids.operationId,
          startedAt: row.startedAt + shift,
          finishedAt: row.finishedAt + shift,
          output: edit(row.step, output),
        })
        .run();
    }
    for (const { id: _id, ...row } of interrupted) db.insert(stepRuns).values(row).run();
    return db
      .select()
      .from(stepRuns)
      .where(eq(stepRuns.operationId, ids.operationId))
      .orderBy(asc(stepRuns.id))
      .all();
  }

  test("a provision parked with them resumes at verify and reaches ready, reading them as they are", async () => {
    const w = fixture.current;
    const ids = await parkedInVerify("stored");
    const restored = restoreAsStoredBy291a24d(ids);
    expect(restored.map((row) => [row.step, row.status])).toEqual([
      ["ssh-key", "succeeded"],
      ["firewall", "succeeded"],
      ["create-server", "succeeded"],
      ["await-cloud-init", "succeeded"],
      ["inject-secrets", "succeeded"],
      ["verify", "interrupted"],
    ]);

    await w.startWorker();
    const summary = await w.finish(ids.operationId);
    expect(summary).toMatchObject({ status: "succeeded", errorMessage: null });
    expect(w.instance(ids.instanceId).status).toBe("ready");
    const rows = stepRunsOf(w.runtime.db, ids.operationId);
    // The stored steps did not run again: verify pinned the stored host key, then the last two steps ran.
    expect(rows.slice(0, restored.length)).toEqual(restored);
    expect(rows.slice(restored.length).map((row) => [row.step, row.status])).toEqual([
      ["verify", "succeeded"],
      ["protect-server", "succeeded"],
      ["finalize", "succeeded"],
    ]);
  }, 60_000);

  test("a stored output whose shape changed fails the provision naming step and field; the rollback cleans up", async () => {
    const w = fixture.current;
    const ids = await parkedInVerify("reshaped");
    restoreAsStoredBy291a24d(ids, (step, output) =>
      step === "await-cloud-init" ? output.replace('"hostKey"', '"host_key"') : output,
    );

    await w.startWorker();
    const summary = await w.finish(ids.operationId);
    expect(summary.status).toBe("failed");
    expect(summary.errorStep).toBe("verify");
    const message =
      "the stored output of step await-cloud-init no longer fits its schema at hostKey: " +
      "Invalid input: expected string, received undefined";
    expect(summary.errorMessage).toBe(message);
    const failed = stepRunsOf(w.runtime.db, ids.operationId).filter((row) => row.status === "failed");
    expect(failed.map((row) => [row.step, row.kind, row.errorCode, row.errorMessage])).toEqual([
      ["verify", "run", "stored_output_mismatch", message],
    ]);
    // create-server's undo reads the same output for its take-back: it falls back to the stored host key.
    const fallback = w.runtime.logs.filter((line) =>
      line.msg.startsWith("taking the Claude credentials back"),
    );
    expect(fallback.map((line) => line.step)).toEqual(["create-server"]);
    expect(w.instance(ids.instanceId).status).toBe("failed");
    expect(await w.leftAtHetzner(ids.instanceId)).toEqual({ servers: [], sshKeys: [] });
  }, 60_000);
});
