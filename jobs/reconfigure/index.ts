/**
 * The reconfigure job: a customer's changed secrets reach their running server. After the unit's start
 * limit is reset (a deliberate restart must not be refused), the provision's own inject-secrets and verify
 * steps run again over SSH, pinned to the host key the server reported at its first boot, with the
 * instance's stored key: no new server, no Hetzner request, no cloud-init.
 * Forward-only (no compensations): a failure must never touch the server, so the runner only marks the
 * operation failed and the instance degraded with the step and reason, and the server stays as it is.
 */

import { injectSecretsStep } from "../provision/steps/inject-secrets.ts";
import { verifyStep } from "../provision/steps/verify.ts";
import type { RemoteStepDeps } from "../shared/connect-server.ts";
import type { JobDefinition } from "../step.ts";
import { RECONFIGURE_OPERATION } from "./request.ts";
import { resetStartLimitStep } from "./reset-start-limit.ts";

/** A reconfigure needs the database, the sealer, the customer store and the SSH settings; no Hetzner client. */
export type ReconfigureDeps = RemoteStepDeps;

export function createReconfigureJob(deps: ReconfigureDeps): JobDefinition {
  return {
    name: RECONFIGURE_OPERATION,
    // Degraded, not failed: the server is still there and running, and must never be taken for a rolled-back one.
    instanceStatus: { running: "reconfiguring", succeeded: "ready", failed: "degraded" },
    steps: [resetStartLimitStep(deps), injectSecretsStep(deps), verifyStep(deps)],
  };
}
