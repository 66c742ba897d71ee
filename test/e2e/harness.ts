/**
 * One simulated world per test file: the simulator in this process, broker, api and worker as real child
 * processes (cli/simulated-stack.ts), every output line kept, and the data dir removed on dispose.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { followOperation } from "../../cli/follow-operation.ts";
import type { LocalService } from "../../cli/local-stack.ts";
import { type SimulatedStack, startSimulatedStack } from "../../cli/simulated-stack.ts";
import { type CustomerStore, createCustomerStore } from "../../domain/customers.ts";
import type { OperationSummary } from "../../domain/operation-progress.ts";
import { createRequests, type Requests } from "../../domain/requests.ts";

export interface E2eWorld extends SimulatedStack {
  customers: CustomerStore;
  requests: Requests;
  /** Every line any service wrote so far. */
  lines: { service: LocalService; text: string }[];
  /** Waits for an operation to finish and returns its summary (succeeded or failed). */
  finish(operationId: string, timeoutMs?: number): Promise<OperationSummary>;
  dispose(): Promise<void>;
}

/** Short locks and leases so a killed worker's job is picked up in seconds; debug logs so more could leak. */
const E2E_ENV = { JOB_LOCK_MS: "4000", LEASE_TTL_MS: "4000", HEARTBEAT_MS: "500", LOG_LEVEL: "debug" };

/** Starts a world at `timeScale` (default 0.05: a provision takes a few seconds). */
export async function startE2eWorld(timeScale = 0.05, env: Record<string, string> = {}): Promise<E2eWorld> {
  const dataDir = mkdtempSync(join(tmpdir(), "rachel-e2e-"));
  const lines: E2eWorld["lines"] = [];
  const stack = await startSimulatedStack({
    dataDir,
    timeScale,
    env: { ...E2E_ENV, ...env },
    onLine: (service, text) => lines.push({ service, text }),
  }).catch((err: unknown) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  return Object.assign(stack, {
    customers: createCustomerStore({ db: stack.db, sealer: stack.sealer }),
    requests: createRequests({ db: stack.db, queue: stack.queue }),
    lines,
    finish: (operationId: string, timeoutMs = 60_000) =>
      followOperation(stack.db, operationId, { timeoutMs, onStep: () => undefined }),
    async dispose() {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
