/** What the provision steps are built from: injected once by the worker entry point, never read from env. */
import type { Config } from "../../../core/config.ts";
import type { Sealer } from "../../../core/secrets.ts";
import type { Db } from "../../../db/index.ts";
import type { CustomerStore } from "../../../domain/customers.ts";
import type { SessionHandover } from "../../../remote/handover.ts";
import type { HetznerProjects } from "../../capacity/projects.ts";
import type { CapacityDeps } from "../../capacity/wake.ts";

/** The config fields provisioning reads (see core/config.ts for units and defaults). */
export type ProvisionSettings = Pick<
  Config,
  | "publicBaseUrl"
  | "controlPlaneIps"
  | "serverImage"
  | "sshPort"
  | "cloudInitTimeoutMs"
  | "verifySettleMs"
  | "hcloudLabels"
  | "dataDir"
>;

export interface ProvisionDeps {
  db: Db;
  /** Each Hetzner project with its client; an instance's calls go to the project recorded on it. */
  projects: HetznerProjects;
  customers: CustomerStore;
  sealer: Sealer;
  settings: ProvisionSettings;
  /** SSH sessions one step hands to the next; one per worker. */
  sessions: SessionHandover;
  /**
   * MAX_SERVERS and how to wake waiters: with it, a provision is placed in a project with room (the projects'
   * server limits) or waits in line, and moves on resource_limit_exceeded instead of failing. Without it,
   * every server goes to the first project, unbounded by us.
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
