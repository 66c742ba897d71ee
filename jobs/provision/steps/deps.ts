/** What the provision steps are built from: injected once by the worker entry point, never read from env. */
import type { Config } from "../../../core/config.ts";
import type { Sealer } from "../../../core/secrets.ts";
import type { Db } from "../../../db/index.ts";
import type { CustomerStore } from "../../../domain/customers.ts";
import type { HetznerClient } from "../../../hetzner/index.ts";
import type { SessionHandover } from "../../../remote/handover.ts";
import type { CapacityDeps } from "../../capacity/wake.ts";

/** The config fields provisioning reads (see core/config.ts for units and defaults). */
export type ProvisionSettings = Pick<
  Config,
  | "publicBaseUrl"
  | "controlPlaneIps"
  | "provisionLocations"
  | "serverType"
  | "serverImage"
  | "sshPort"
  | "cloudInitTimeoutMs"
  | "verifySettleMs"
  | "hcloudLabels"
  | "dataDir"
>;

export interface ProvisionDeps {
  db: Db;
  hetzner: HetznerClient;
  customers: CustomerStore;
  sealer: Sealer;
  settings: ProvisionSettings;
  /** SSH sessions one step hands to the next; one per worker. */
  sessions: SessionHandover;
  /**
   * The project's server limit, MAX_SERVERS and how to wake waiters: with it, create-server waits in line
   * for room instead of failing on resource_limit_exceeded. Without it, creates are not bounded by us.
   */
  capacity?: CapacityDeps["capacity"];
  /**
   * When await-cloud-init, still without a callback, checks the create/start actions once (one batched
   * request), in ms after the wait began; default min(120000, cloudInitTimeoutMs / 2), past a normal boot.
   */
  actionCheckAfterMs?: number;
  /**
   * How long Hetzner takes to delete a server, in ms; the one poll of delete_server comes after it.
   * Default 5000 (Hetzner's usual; a simulator at a compressed time scale needs less).
   */
  expectedServerDeletionMs?: number;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
}
