/** What the deprovision steps are built from; injected by the worker entry point. */
import type { Sealer } from "../../core/secrets.ts";
import type { Db } from "../../db/index.ts";
import type { CustomerStore } from "../../domain/customers.ts";
import type { HetznerProjects } from "../capacity/projects.ts";
import type { CapacityDeps } from "../capacity/wake.ts";

export interface DeprovisionDeps {
  db: Db;
  /** Each Hetzner project with its client; an instance's calls go to the project recorded on it. */
  projects: HetznerProjects;
  customers: CustomerStore;
  sealer: Sealer;
  /** With it, a deleted server's room goes to the first provision waiting for capacity. */
  capacity?: CapacityDeps["capacity"];
  /**
   * How long Hetzner takes to delete a server, in ms; the one poll of delete_server comes after it.
   * Default 5000 (Hetzner's usual; a simulator at a compressed time scale needs less).
   */
  expectedServerDeletionMs?: number;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
}
