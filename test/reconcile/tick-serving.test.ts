/**
 * tick and instances that keep their server through a failure other than a provision's: a reconfigure that
 * failed (the instance `degraded`, or `failed` on older rows) keeps serving, so its server is no zombie, and
 * it becomes lost like a ready one when the server vanishes.
 */
import { expect, test } from "bun:test";
import { tick } from "../../jobs/reconcile/tick.ts";
import { brief, instance, NOW, op, POLICY, server, sweepState } from "./fleet-builders.ts";

const failedReconfigure = (id: string) =>
  op(id, { id: `reconfigure:${id}:1`, operation: "reconfigure", status: "failed" });

test("the server of an instance whose reconfigure failed is not a zombie", () => {
  const state = sweepState({
    servers: [server(7, "ia"), server(8, "ib")],
    instances: [
      instance("ia", { status: "degraded", hetznerServerId: 7, operation: failedReconfigure("ia") }),
      instance("ib", { status: "failed", hetznerServerId: 8, operation: failedReconfigure("ib") }),
    ],
  });
  expect(tick(state, NOW, POLICY).map(brief)).toEqual([]);
});

test("a failed deprovision's server is still a zombie", () => {
  const deprovision = op("ia", { id: "deprovision:ia:1", operation: "deprovision", status: "failed" });
  const state = sweepState({
    servers: [server(7, "ia")],
    instances: [instance("ia", { status: "failed", hetznerServerId: 7, operation: deprovision })],
  });
  expect(tick(state, NOW, POLICY).map(brief)).toEqual(["delete-zombie-server 7"]);
});

test("a degraded instance whose server is gone is lost, and a second server of it is a duplicate", () => {
  const gone = sweepState({
    instances: [
      instance("ia", { status: "degraded", hetznerServerId: 7, operation: failedReconfigure("ia") }),
    ],
  });
  expect(tick(gone, NOW, POLICY).map(brief)).toEqual(["mark-instance-lost ia"]);
  const twice = sweepState({
    servers: [server(7, "ia"), server(9, "ia")],
    instances: [
      instance("ia", { status: "degraded", hetznerServerId: 7, operation: failedReconfigure("ia") }),
    ],
  });
  expect(tick(twice, NOW, POLICY).map(brief)).toEqual(["delete-zombie-server 9"]);
});
