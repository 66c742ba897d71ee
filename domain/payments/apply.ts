/**
 * Applying a customer's current payment state: paid → provision, cancelled → deprovision. The customer's
 * state (paid while any of their subscriptions is), not one event's, so racing events and several
 * subscriptions converge on what is true now. Both requests are idempotent: they join the customer's
 * existing operation. Call it after every state change and after a customer registers.
 */
import type { Db } from "../../db/index.ts";
import type { PaymentState } from "../../db/schema.ts";
import { CustomerSecretsGoneError, UnknownCustomerError } from "../customers.ts";
import type { RequestResult, Requests } from "../requests.ts";
import { paymentStatements } from "./statements.ts";

export interface PaymentDeps {
  db: Db;
  requests: Requests;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
}

export interface AppliedPaymentState {
  /** The customer's payment state now; null when no subscription of theirs is known. */
  state: PaymentState | null;
  /** The provision or deprovision started or joined; null when nothing was requested. */
  request: RequestResult | null;
  /** The customer is not registered, or their secrets were shredded: applied again once they register. */
  awaitingCustomer: boolean;
}

/** Paid while any of the customer's subscriptions is paid; null when none is known. */
export function currentPaymentState(db: Db, customerId: string): PaymentState | null {
  const states = paymentStatements(db).customerStates.all({ customerId });
  if (states.length === 0) return null;
  return states.some((row) => row.paymentState === "paid") ? "paid" : "cancelled";
}

/**
 * How long a claim outlives a holder that died mid-application: longer than an application takes (a
 * broker command times out after 5 s), short enough that a crash delays the customer's next event only briefly.
 */
const CLAIM_TTL_MS = 30_000;
/** Pause between tries while another application holds the customer's claim; applications take milliseconds. */
const CLAIM_RETRY_MS = 5;

/**
 * Requests what the customer's current payment state calls for; broker or database failures are thrown.
 * Applications run one at a time per customer across every process (a claim row in SQLite), so the last one
 * reads the newest state: a provision read as paid is never enqueued after a deprovision that read a later
 * cancellation.
 */
export async function applyPaymentState(deps: PaymentDeps, customerId: string): Promise<AppliedPaymentState> {
  const holder = await claimApplication(deps, customerId);
  try {
    return await applyNow(deps, customerId);
  } finally {
    paymentStatements(deps.db).releaseApplication.run({ customerId, holder });
  }
}

async function claimApplication({ db, now = Date.now }: PaymentDeps, customerId: string): Promise<string> {
  const holder = crypto.randomUUID();
  for (;;) {
    const at = now();
    const claimed = paymentStatements(db).claimApplication.get({
      customerId,
      holder,
      expiresAt: at + CLAIM_TTL_MS,
      now: at,
    });
    if (claimed) return holder;
    await Bun.sleep(CLAIM_RETRY_MS);
  }
}

async function applyNow({ db, requests }: PaymentDeps, customerId: string): Promise<AppliedPaymentState> {
  const state = currentPaymentState(db, customerId);
  if (state === null) return { state, request: null, awaitingCustomer: false };
  try {
    const request =
      state === "paid"
        ? await requests.requestProvision(customerId)
        : await requests.requestDeprovision(customerId);
    return { state, request, awaitingCustomer: false };
  } catch (err) {
    if (err instanceof UnknownCustomerError || err instanceof CustomerSecretsGoneError) {
      return { state, request: null, awaitingCustomer: true };
    }
    throw err;
  }
}
