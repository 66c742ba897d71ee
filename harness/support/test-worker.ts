/** The worker process with the test jobs: the same process code as worker/main.ts, other job definitions. */
import { runWorkerProcess } from "../../worker/process.ts";
import { createTestJobs } from "./test-jobs.ts";

await runWorkerProcess((config) => createTestJobs(config.dataDir));
