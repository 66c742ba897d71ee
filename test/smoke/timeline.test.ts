import { describe, expect, test } from "bun:test";
import { formatTimeline, type ProvisionInstants, provisionTimeline } from "../../cli/smoke-timeline.ts";

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const at = (seconds: number) => T0 + seconds * 1000;

function instants(overrides: Partial<ProvisionInstants> = {}): ProvisionInstants {
  return {
    requested: at(0),
    steps: new Map([
      ["ssh-key", { startedAt: at(0.1), finishedAt: at(0.4) }],
      ["create-server", { startedAt: at(0.6), finishedAt: at(1.2) }],
      ["await-cloud-init", { startedAt: at(1.2), finishedAt: at(60.3) }],
      ["inject-secrets", { startedAt: at(60.4), finishedAt: at(62.4) }],
      ["verify", { startedAt: at(62.4), finishedAt: at(73.0) }],
      ["finalize", { startedAt: at(73.0), finishedAt: at(73.1) }],
    ]),
    createAction: { started: at(1.0), finished: at(12.0) },
    machineBooted: at(15.0),
    setupCompleted: at(58.0),
    callbackReceived: at(60.0),
    finished: at(73.2),
    ...overrides,
  };
}

describe("provisionTimeline", () => {
  test("splits a provision by clock: Hetzner's action, the machine's boot and setup, the control plane's steps", () => {
    const timeline = provisionTimeline(instants());
    expect(timeline.rows.map((row) => [row.phase, row.ms, row.source])).toEqual([
      ["before create (key, firewall, queue)", 600, "control plane"],
      ["create action (create_server)", 11_000, "hetzner"],
      ["boot (to kernel start)", 3_000, "mixed"],
      ["first-boot work (cloud-init)", 43_000, "machine"],
      ["callback (phone_home)", 2_000, "mixed"],
      ["callback to worker", 300, "control plane"],
      ["injection (first-boot check, secrets, start)", 2_000, "control plane"],
      ["verify (settle, unit active, login)", 10_600, "control plane"],
      ["finalize", 200, "control plane"],
    ]);
    expect(timeline.totalMs).toBe(73_200);
    expect(timeline.notes).toEqual([]);
    expect(formatTimeline(timeline, 90_000)).toEndWith("ready in 73.2 s: within the 90 s target");
  });

  test("a boot the machine's clock places before the server existed is left out, with a note", () => {
    const timeline = provisionTimeline(instants({ machineBooted: at(-86_400) }));
    expect(timeline.rows.map((row) => row.phase)).toContain("boot + first-boot work");
    expect(timeline.rows.find((row) => row.phase === "boot + first-boot work")?.ms).toBe(46_000);
    expect(timeline.notes).toEqual(["boot: the machine's uptime predates the server"]);
  });

  test("without Hetzner's or the machine's timestamps only what was measured is shown; over target says so", () => {
    const timeline = provisionTimeline(
      instants({ createAction: null, machineBooted: null, setupCompleted: null, finished: at(95) }),
    );
    expect(timeline.rows.map((row) => row.phase)).toEqual([
      "before create (key, firewall, queue)",
      "boot to callback",
      "callback to worker",
      "injection (first-boot check, secrets, start)",
      "verify (settle, unit active, login)",
      "finalize",
    ]);
    expect(timeline.rows[1]?.ms).toBe(58_800);
    expect(timeline.notes).toEqual([
      "create action: Hetzner's action timestamps were not available",
      "first-boot work: the machine's setup marker was not available",
    ]);
    expect(formatTimeline(timeline, 90_000)).toEndWith("ready in 95.0 s: OVER the 90 s target");
  });
});
