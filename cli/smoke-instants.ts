/**
 * Gathers the instants of a finished provision for the smoke's timeline (cli/smoke-timeline.ts): step runs
 * and the callback from the app database, the create action's timestamps from Hetzner, and the machine's
 * kernel start over one pinned SSH exec. What cannot be had is null, never a guess.
 */
import { and, asc, eq } from "drizzle-orm";
import type { Sealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { operations, stepRuns } from "../db/schema.ts";
import { APP_USER } from "../domain/ownership.ts";
import type { HetznerClient } from "../hetzner/index.ts";
import { type CreateServerOutput, createServerRef } from "../jobs/provision/steps/create-server.ts";
import { type InjectSecretsOutput, injectSecretsRef } from "../jobs/provision/steps/inject-secrets.ts";
import { loadInstance, sshPrivateKeyContext } from "../jobs/shared/instance-row.ts";
import type { StepRef } from "../jobs/step.ts";
import { connectPinned } from "../remote/ssh.ts";
import type { ProvisionInstants } from "./smoke-timeline.ts";

export interface InstantSources {
  db: Db;
  sealer: Sealer;
  hetzner: HetznerClient;
  sshPort: number;
  operationId: string;
  instanceId: string;
}

export async function gatherInstants(sources: InstantSources): Promise<ProvisionInstants> {
  const { db, operationId } = sources;
  const operation = db.select().from(operations).where(eq(operations.id, operationId)).get();
  if (!operation?.finishedAt) throw new Error(`operation ${operationId} has not finished`);
  const rows = db
    .select()
    .from(stepRuns)
    .where(
      and(eq(stepRuns.operationId, operationId), eq(stepRuns.run, operation.run), eq(stepRuns.kind, "run")),
    )
    .orderBy(asc(stepRuns.id))
    .all();
  const steps = new Map<string, { startedAt: number; finishedAt: number }>();
  const outputs = new Map<string, unknown>();
  for (const row of rows) {
    const seen = steps.get(row.step);
    steps.set(row.step, {
      startedAt: Math.min(seen?.startedAt ?? row.startedAt, row.startedAt),
      finishedAt: Math.max(seen?.finishedAt ?? 0, row.finishedAt ?? row.startedAt),
    });
    if (row.output !== null) outputs.set(row.step, JSON.parse(row.output));
  }
  const instance = loadInstance(db, sources.instanceId);
  return {
    requested: operation.createdAt,
    steps,
    createAction: await createActionTimes(sources.hetzner, storedOutput(outputs, createServerRef)),
    machineBooted: await machineBootedAt(sources).catch(() => null),
    setupCompleted: setupCompletedAt(storedOutput(outputs, injectSecretsRef)),
    callbackReceived: instance.callbackReceivedAt,
    finished: operation.finishedAt,
  };
}

/** A step's stored output as its schema reads it; undefined when missing or no longer of that shape. */
function storedOutput<O>(outputs: ReadonlyMap<string, unknown>, step: StepRef<O>): O | undefined {
  const parsed = step.output.safeParse(outputs.get(step.name));
  return parsed.success ? parsed.data : undefined;
}

async function createActionTimes(
  hetzner: HetznerClient,
  output: CreateServerOutput | undefined,
): Promise<ProvisionInstants["createAction"]> {
  const [createId] = output?.actionIds ?? [];
  if (createId === undefined) return null;
  const action = await hetzner.actions.get(createId);
  if (action?.finished == null) return null;
  return { started: Date.parse(action.started), finished: Date.parse(action.finished) };
}

function setupCompletedAt(output: InjectSecretsOutput | undefined): number | null {
  const marker = output?.firstBoot?.setupCompletedAt;
  const at = marker === undefined ? Number.NaN : Date.parse(marker);
  return Number.isNaN(at) ? null : at;
}

/** The machine's clock minus its uptime: when its kernel started, in epoch ms. */
async function machineBootedAt(sources: InstantSources): Promise<number | null> {
  const row = loadInstance(sources.db, sources.instanceId);
  if (row.ipv4 === null || row.sshPrivateKey === null || row.reportedHostKey === null) return null;
  const session = await connectPinned({
    host: row.ipv4,
    port: sources.sshPort,
    username: APP_USER,
    privateKey: sources.sealer.open(row.sshPrivateKey, sshPrivateKeyContext(row.id)),
    expectedHostKey: row.reportedHostKey,
  });
  try {
    const result = await session.exec("cut -d' ' -f1 /proc/uptime; date +%s.%N", { timeoutMs: 15_000 });
    const [uptime, now] = result.stdout.trim().split("\n").map(Number);
    if (result.code !== 0 || uptime === undefined || now === undefined || Number.isNaN(uptime + now))
      return null;
    return Math.round((now - uptime) * 1000);
  } finally {
    await session.close();
  }
}
