import { createDeprovisionJob, type DeprovisionDeps } from "./deprovision/index.ts";
import { createProvisionJob, type ProvisionDeps } from "./provision/index.ts";
import { createReconfigureJob } from "./reconfigure/index.ts";
import type { JobDefinition } from "./step.ts";
import { createUpgradeJob } from "./upgrade/index.ts";

/** Everything the production jobs are built from; worker/main.ts makes it from config. */
export type ProductionJobDeps = ProvisionDeps & DeprovisionDeps;

/** Every operation the production worker runs. */
export function createProductionJobs(deps: ProductionJobDeps): readonly JobDefinition[] {
  return [
    createProvisionJob(deps),
    createDeprovisionJob(deps),
    createReconfigureJob(deps),
    createUpgradeJob(deps),
  ];
}
