import type { JobDefinition } from "./step.ts";

/** Every operation the production worker runs. The provision and deprovision jobs join this list. */
export const productionJobs: readonly JobDefinition[] = [];
