/** An API with both listeners over a bundle world's data directory, for tests that download its bundle. */
import { join } from "node:path";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { loadConfig } from "../../core/config.ts";
import type { Logger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { createSealer, type Sealer } from "../../core/secrets.ts";
import { type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import type { BundleWorld } from "../../harness/bundle/world.ts";
import type { JobQueue } from "../../queue/queue.ts";

export interface BundleApi {
  db: Db;
  sealer: Sealer;
  api: ApiServer;
}

export function startBundleApi(world: BundleWorld, log: Logger): BundleApi {
  const db = openDatabase(join(world.dataDir, "app.sqlite"));
  migrateDatabase(db);
  const config = loadConfig({
    DATA_DIR: world.dataDir,
    API_PORT: "1",
    BROKER_TOKEN: "broker-token",
    SECRETS_KEY: Buffer.alloc(32, 9).toString("base64"),
    HCLOUD_TOKEN: "hcloud-token",
  });
  const unused = () => Promise.reject(new Error("not used by bundle downloads"));
  const queue: JobQueue = {
    enqueue: unused,
    // phone_home's signal to a waiting job: nobody waits in these tests.
    signal: async () => {},
    retry: unused,
    ping: async () => true,
    close: async () => {},
  };
  const api = createApiServer({ config, db, queue, log, metrics: createMetrics(), port: 0, publicPort: 0 });
  return { db, sealer: createSealer(config.secretsKeys), api };
}
