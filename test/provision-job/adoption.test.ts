/** judgeAdoption: which server found under our name may be waited on, and why the others are replaced. */
import { describe, expect, test } from "bun:test";
import { type AdoptionFacts, judgeAdoption } from "../../jobs/provision/steps/adoption.ts";

const created = Date.parse("2026-01-01T00:00:00Z");
const booting: AdoptionFacts = {
  server: { id: 7, status: "running", created: new Date(created).toISOString() },
  actions: [
    { command: "create_server", status: "success", error: null },
    { command: "start_server", status: "running", error: null },
  ],
  callback: "none",
  bootMs: 600_000,
  now: created + 30_000,
};

describe("judgeAdoption", () => {
  test("a server still inside its first boot is kept", () => {
    expect(judgeAdoption(booting)).toEqual({ keep: true });
  });

  test("a server past one boot that never phoned home is replaced", () => {
    const verdict = judgeAdoption({ ...booting, now: created + 600_000 });
    expect(verdict).toEqual({
      keep: false,
      reason: "it never phoned home within 600000 ms of its creation; cloud-init will not run again",
    });
  });

  test("an unused callback keeps even an old server; a used one replaces a young one", () => {
    expect(judgeAdoption({ ...booting, callback: "pending", now: created + 3_600_000 })).toEqual({
      keep: true,
    });
    expect(judgeAdoption({ ...booting, callback: "consumed" })).toMatchObject({ keep: false });
  });

  test("a failed create or start action names the action and its error", () => {
    const failedStart = {
      ...booting,
      actions: [
        booting.actions[0] ?? { command: "create_server", status: "success" as const, error: null },
        {
          command: "start_server",
          status: "error" as const,
          error: { code: "action_failed", message: "boom" },
        },
      ],
    };
    expect(judgeAdoption(failedStart)).toEqual({
      keep: false,
      reason: "its start_server failed (action_failed: boom)",
    });
  });

  test("a server that is off will not phone home", () => {
    const off = { ...booting, server: { ...booting.server, status: "off" as const } };
    expect(judgeAdoption(off)).toEqual({ keep: false, reason: "it is off, so it will not phone home" });
  });
});
