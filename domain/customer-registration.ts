/**
 * Registering a customer (PUT /v1/customers/{id}): their secrets are stored, then what that owes is asked
 * for — the provision or deprovision their recorded payments call for, and the reconfigure that brings
 * changed secrets to their running server. Both follow-ups are idempotent and the secrets stay stored when
 * one fails, so the caller repeats the whole registration to finish it.
 */
import { SQLiteError } from "bun:sqlite";
import { isDeepStrictEqual } from "node:util";
import { eq } from "drizzle-orm";
import type { Sealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { customers, type PaymentState } from "../db/schema.ts";
import { JobError } from "../jobs/errors.ts";
import { type ReconfigureDecision, requestReconfigure } from "../jobs/reconfigure/request.ts";
import type { JobQueue } from "../queue/queue.ts";
import {
  type CustomerSecrets,
  CustomerSecretsGoneError,
  type CustomerStore,
  createCustomerStore,
} from "./customers.ts";
import { applyPaymentState, type PaymentDeps } from "./payments/apply.ts";

export interface CustomerRegistrationDeps {
  db: Db;
  sealer: Sealer;
  queue: JobQueue;
  /** How recorded payments are applied (shared with the payment webhooks). */
  payments: PaymentDeps;
  /** Clock, in epoch ms. */
  now: () => number;
}

export interface Registration {
  /** True when this registration created the customer, false when it replaced (or repeated) their secrets. */
  created: boolean;
  /** False when the request repeated the stored secrets: nothing was written. */
  changed: boolean;
  /** When the secrets were stored, epoch ms (an unchanged registration keeps the earlier time). */
  updatedAt: number;
  /** The payment state the webhooks recorded (null when none yet) and the provision or deprovision it started or joined. */
  payment: { state: PaymentState | null; operationId: string | null };
  /** Whether a reconfigure delivers the secrets, or must wait for the operation that read the previous ones. */
  reconfigure: ReconfigureDecision;
}

/** The secrets are stored, but the job queue did not take the provision or deprovision the payments call for. */
export class PaymentNotRequestedError extends JobError {
  constructor(customerId: string, cause: unknown) {
    super("queue_unavailable", `the payment state of customer ${customerId} was not applied`, { cause });
  }
}

export interface CustomerRegistrations {
  /**
   * Stores the secrets, applies the recorded payment state and asks for the reconfigure they need. Throws
   * InvalidCustomerSecretsError (nothing stored), PaymentNotRequestedError or ReconfigureEnqueueError
   * (secrets stored), or a database error.
   */
  register(customerId: string, secrets: CustomerSecrets): Promise<Registration>;
}

export function createCustomerRegistrations(deps: CustomerRegistrationDeps): CustomerRegistrations {
  const store = createCustomerStore({ db: deps.db, sealer: deps.sealer, now: deps.now });
  return {
    async register(customerId, secrets) {
      const stored = storeSecrets(deps.db, store, customerId, secrets);
      const payment = await applyRecordedPayment(deps.payments, customerId);
      const reconfigure = await requestReconfigure(deps, customerId);
      return { ...stored, payment, reconfigure };
    },
  };
}

/**
 * Stores the secrets unless they are the stored ones. Whether the customer existed is read in the same
 * immediate transaction, so two concurrent first registrations see one create and one replace.
 */
function storeSecrets(
  db: Db,
  store: CustomerStore,
  customerId: string,
  secrets: CustomerSecrets,
): Pick<Registration, "created" | "changed" | "updatedAt"> {
  return db.transaction(
    (tx) => {
      const existing = tx
        .select({ updatedAt: customers.updatedAt })
        .from(customers)
        .where(eq(customers.id, customerId))
        .get();
      if (existing !== undefined && isStored(store, customerId, secrets)) {
        return { created: false, changed: false, updatedAt: existing.updatedAt };
      }
      // Timed under the write lock, so it orders against the start of a reconfigure reading the secrets.
      const updatedAt = store.upsert(customerId, secrets);
      return { created: existing === undefined, changed: true, updatedAt };
    },
    { behavior: "immediate" },
  );
}

/** An unchanged registration writes nothing: a new time would count as a change the server has not received. */
function isStored(store: CustomerStore, customerId: string, secrets: CustomerSecrets): boolean {
  try {
    return isDeepStrictEqual(store.open(customerId), secrets);
  } catch (err) {
    if (err instanceof CustomerSecretsGoneError) return false;
    throw err;
  }
}

/** A database failure is thrown as is; any other is the job queue's, wrapped in PaymentNotRequestedError. */
async function applyRecordedPayment(
  payments: PaymentDeps,
  customerId: string,
): Promise<Registration["payment"]> {
  try {
    const applied = await applyPaymentState(payments, customerId);
    return { state: applied.state, operationId: applied.request?.operationId ?? null };
  } catch (err) {
    if (err instanceof SQLiteError) throw err;
    throw new PaymentNotRequestedError(customerId, err);
  }
}
