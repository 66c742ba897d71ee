/** What the deprovision steps are built from; injected by the worker entry point. */
import type { Sealer } from "../../core/secrets.ts";
import type { Db } from "../../db/index.ts";
import type { HetznerClient } from "../../hetzner/index.ts";
import type { CustomerStore } from "../customers.ts";

export interface DeprovisionDeps {
  db: Db;
  hetzner: HetznerClient;
  customers: CustomerStore;
  sealer: Sealer;
  /**
   * How long Hetzner takes to delete a server, in ms; the one poll of delete_server comes after it.
   * Default 5000 (Hetzner's usual; a simulator at a compressed time scale needs less).
   */
  expectedServerDeletionMs?: number;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
}
