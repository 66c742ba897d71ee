/**
 * The one internal entry point to ask for a customer's server to be provisioned or deprovisioned (payment
 * webhooks, the reconcile sweep, operator tooling, the demo, the smoke and tests call it). A customer has at
 * most one live instance: repeated requests join it and its operation instead of creating another.
 */
import { randomBytes } from "node:crypto";
import { and, desc, eq, notInArray, sql } from "drizzle-orm";
import type { Db } from "../db/index.ts";
import { preparedPerConnection } from "../db/prepared.ts";
import { customers, type InstanceStatus, instances, operations } from "../db/schema.ts";
import { DEPROVISION_OPERATION } from "../jobs/deprovision/operation.ts";
import { UnknownInstanceError } from "../jobs/errors.ts";
import { PROVISION_OPERATION } from "../jobs/provision/operation.ts";
import type { JobQueue } from "../queue/queue.ts";
import { CustomerSecretsGoneError, UnknownCustomerError } from "./customers.ts";
import { resourceNameFor } from "./ownership.ts";

export interface RequestResult {
  instanceId: string;
  /** The operation (and broker job) id that carries out the request. */
  operationId: string;
  /** false when the request joined an instance's existing operation. */
  created: boolean;
}

export interface Requests {
  /**
   * Provisions the customer's live instance, creating it if there is none. A request while a provision is
   * queued or running joins it; for an instance whose provision succeeded (ready, or reconfigured since) it
   * returns that provision; after a failed provision or a lost server it starts a fresh run. Throws UnknownCustomerError, or CustomerSecretsGoneError once shredded.
   */
  requestProvision(customerId: string): Promise<RequestResult>;
  /** Deprovisions the customer's newest instance not yet deprovisioned; null when there is none. Throws UnknownCustomerError. */
  requestDeprovision(customerId: string): Promise<RequestResult | null>;
  /**
   * Deprovisions one instance by its id (the operator's entry point); joins a deprovision already under way;
   * null when the instance is already deprovisioned. Throws UnknownInstanceError.
   */
  requestInstanceDeprovision(instanceId: string): Promise<RequestResult | null>;
}

export interface RequestsDeps {
  db: Db;
  queue: JobQueue;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const INSTANCE_ID_CHARS = 12;

/** "i" + 12 lowercase base32 characters (60 random bits): a valid hostname label and Hetzner label value. */
export function newInstanceId(): string {
  // 256 is a multiple of 32, so masking a byte keeps every character equally likely.
  return `i${Array.from(randomBytes(INSTANCE_ID_CHARS), (byte) => BASE32[byte & 31]).join("")}`;
}

const p = sql.placeholder;

/** Statuses a live instance is never in: a deprovision was asked for it. */
const NOT_LIVE: InstanceStatus[] = ["deprovisioning", "deprovisioned"];
const ENDED: InstanceStatus[] = ["deprovisioned"];

const newestInstanceNotIn = (db: Db, excluded: InstanceStatus[]) =>
  db
    .select({ id: instances.id, status: instances.status })
    .from(instances)
    .where(and(eq(instances.customerId, p("customerId")), notInArray(instances.status, excluded)))
    .orderBy(desc(instances.createdAt), desc(instances.id))
    .prepare();

const statements = preparedPerConnection((db) => ({
  customer: db
    .select({ shreddedAt: customers.shreddedAt })
    .from(customers)
    .where(eq(customers.id, p("customerId")))
    .prepare(),
  newestLiveInstance: newestInstanceNotIn(db, NOT_LIVE),
  newestInstanceNotEnded: newestInstanceNotIn(db, ENDED),
  latestOperation: db
    .select({ id: operations.id, status: operations.status })
    .from(operations)
    .where(and(eq(operations.instanceId, p("instanceId")), eq(operations.operation, p("operation"))))
    .orderBy(desc(operations.seq))
    .prepare(),
  insertInstance: db
    .insert(instances)
    .values({
      id: p("id"),
      customerId: p("customerId"),
      serverName: p("serverName"),
      status: "new",
      createdAt: p("now"),
      updatedAt: p("now"),
    })
    .prepare(),
}));

function requireCustomer(db: Db, customerId: string): { shreddedAt: number | null } {
  const customer = statements(db).customer.get({ customerId });
  if (!customer) throw new UnknownCustomerError(customerId);
  return customer;
}

function latestOperation(db: Db, instanceId: string, operation: string) {
  return statements(db).latestOperation.get({ instanceId, operation });
}

/**
 * The provision that already gave this instance its server, if any: its newest provision succeeded and the
 * server was not lost since. Whatever ran after (a reconfigure, even a failed one) keeps that server, and a
 * second provision would adopt it, wait for a callback that never comes, and roll it back.
 */
function provisionThatServes(db: Db, instance: { id: string; status: string }): string | undefined {
  if (instance.status === "lost") return undefined;
  const provision = latestOperation(db, instance.id, PROVISION_OPERATION);
  return provision?.status === "succeeded" ? provision.id : undefined;
}

/**
 * The customer's live instance (no deprovision ever requested for it), or a new one. An IMMEDIATE
 * transaction, so concurrent requests from several processes agree on one instance.
 */
function findOrCreateLiveInstance(db: Db, customerId: string, now: number): { id: string; status: string } {
  return db.transaction(
    () => {
      const customer = requireCustomer(db, customerId);
      if (customer.shreddedAt !== null) throw new CustomerSecretsGoneError(customerId);
      const candidate = statements(db).newestLiveInstance.get({ customerId });
      if (candidate && latestOperation(db, candidate.id, DEPROVISION_OPERATION) === undefined) {
        return candidate;
      }
      const id = newInstanceId();
      statements(db).insertInstance.run({ id, customerId, serverName: resourceNameFor(id), now });
      return { id, status: "new" };
    },
    { behavior: "immediate" },
  );
}

export function createRequests(deps: RequestsDeps): Requests {
  const { db, queue } = deps;
  const now = deps.now ?? Date.now;

  return {
    async requestProvision(customerId) {
      const instance = findOrCreateLiveInstance(db, customerId, now());
      const done = provisionThatServes(db, instance);
      if (done !== undefined) return { instanceId: instance.id, operationId: done, created: false };
      const { jobId, created } = await queue.enqueue(PROVISION_OPERATION, instance.id);
      return { instanceId: instance.id, operationId: jobId, created };
    },

    async requestDeprovision(customerId) {
      requireCustomer(db, customerId);
      const instance = statements(db).newestInstanceNotEnded.get({ customerId });
      if (!instance) return null;
      const { jobId, created } = await queue.enqueue(DEPROVISION_OPERATION, instance.id);
      return { instanceId: instance.id, operationId: jobId, created };
    },

    async requestInstanceDeprovision(instanceId) {
      const instance = db
        .select({ status: instances.status })
        .from(instances)
        .where(eq(instances.id, instanceId))
        .get();
      if (!instance) throw new UnknownInstanceError(instanceId);
      if (instance.status === "deprovisioned") return null;
      const { jobId, created } = await queue.enqueue(DEPROVISION_OPERATION, instanceId);
      return { instanceId, operationId: jobId, created };
    },
  };
}
