/** `bun run worker`: the worker process with the production jobs; runs until SIGTERM. */
import { productionJobs } from "../jobs/registry.ts";
import { runWorkerProcess } from "./process.ts";

await runWorkerProcess(() => productionJobs);
