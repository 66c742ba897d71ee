/**
 * The boot keeps its configured schedule on a busy host: each phase counts from when the previous one was
 * due, so a timer that fires late (here: the event loop held up past the start) does not push back
 * cloud-init, and a disk that is ready late starts the start phase from then, not from its own timer.
 */
import { afterEach, expect, test } from "bun:test";
import { idleMachine, standInMachineHost } from "../../harness/reconcile/machineless-sim.ts";
import type { MachineHost } from "../../sim/machine-contract.ts";
import { launchSimulator, type Simulator } from "../../sim/simulator.ts";
import { call, serverBody, waitFor } from "./helpers.ts";

const CREATE_MS = 200;
const START_MS = 300;

interface RecordedBoot {
  dueAt: number | undefined;
  bootedAt: number;
}

/** Machines whose disk is ready when the test says, recording when and for which due time they boot. */
function recordingHost(diskReady: Promise<void>, boots: RecordedBoot[]): () => MachineHost {
  return () =>
    standInMachineHost((spec) => ({
      ...idleMachine(spec),
      prepared: diskReady,
      boot: (dueAt) => boots.push({ dueAt, bootedAt: performance.now() }),
    }));
}

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

function startRecordingSimulator(diskReady: Promise<void>, boots: RecordedBoot[]): Promise<Simulator> {
  return launchSimulator(
    { timeScale: 1, timings: { createServerMs: CREATE_MS, startServerMs: START_MS, cloudInitMs: 1000 } },
    recordingHost(diskReady, boots),
  );
}

/** Holds the event loop (as 50 booting machines would) until `until` on the performance clock. */
function busyUntil(until: number): void {
  while (performance.now() < until) {
    // Spinning on purpose: nothing else may run.
  }
}

test("a start timer that fires late boots the machine with the time the start was due", async () => {
  const boots: RecordedBoot[] = [];
  sim = await startRecordingSimulator(Promise.resolve(), boots);
  const before = performance.now();
  const created = await call(sim, "POST", "/servers", serverBody("schedule-1"));
  const after = performance.now();
  expect(created.status).toBe(201);
  // Past the create timer, so the start timer is set; then held well past when the start is due.
  await waitFor("create_server to finish", async () =>
    (await call(sim as Simulator, "GET", `/actions/${created.body.action.id}`)).body.action.status ===
    "success"
      ? true
      : undefined,
  );
  const heldUntil = before + CREATE_MS + START_MS + 400;
  busyUntil(heldUntil);
  const [boot] = await waitFor("the machine to boot", () => (boots.length > 0 ? boots : undefined));
  expect(boot?.bootedAt).toBeGreaterThanOrEqual(heldUntil);
  expect(boot?.dueAt).toBeGreaterThanOrEqual(before + CREATE_MS + START_MS);
  expect(boot?.dueAt).toBeLessThanOrEqual(after + CREATE_MS + START_MS);
});

test("a disk ready after create was due starts the start phase from the moment it was ready", async () => {
  const boots: RecordedBoot[] = [];
  let ready = () => {};
  const diskReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  sim = await startRecordingSimulator(diskReady, boots);
  const created = await call(sim, "POST", "/servers", serverBody("schedule-2"));
  expect(created.status).toBe(201);
  await Bun.sleep(CREATE_MS + 200);
  const readyFrom = performance.now();
  ready();
  await waitFor("create_server to finish", async () =>
    (await call(sim as Simulator, "GET", `/actions/${created.body.action.id}`)).body.action.status ===
    "success"
      ? true
      : undefined,
  );
  const readyBy = performance.now();
  const [boot] = await waitFor("the machine to boot", () => (boots.length > 0 ? boots : undefined));
  expect(boot?.dueAt).toBeGreaterThanOrEqual(readyFrom + START_MS);
  expect(boot?.dueAt).toBeLessThanOrEqual(readyBy + START_MS);
});
