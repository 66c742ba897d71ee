/**
 * The deprovision job: a cancelled customer's server and SSH key are gone from Hetzner and nothing of
 * their secrets is left decryptable. Forward-only (no compensations): every step is safe to repeat, so
 * a failure is fixed by running it again. An in-flight provision is cancelled first.
 */

import type { JobDefinition } from "../step.ts";
import { cancelProvisionStep } from "./cancel-provision.ts";
import { deleteServerStep } from "./delete-server.ts";
import { deleteSshKeyStep } from "./delete-ssh-key.ts";
import type { DeprovisionDeps } from "./deps.ts";
import { DEPROVISION_OPERATION } from "./operation.ts";
import { shredSecretsStep } from "./shred-secrets.ts";
import { unprotectServerStep } from "./unprotect-server.ts";

export type { DeprovisionDeps } from "./deps.ts";

export function createDeprovisionJob(deps: DeprovisionDeps): JobDefinition {
  return {
    name: DEPROVISION_OPERATION,
    instanceStatus: { running: "deprovisioning", succeeded: "deprovisioned" },
    steps: [
      cancelProvisionStep(deps),
      unprotectServerStep(deps),
      deleteServerStep(deps),
      deleteSshKeyStep(deps),
      shredSecretsStep(deps),
    ],
  };
}
