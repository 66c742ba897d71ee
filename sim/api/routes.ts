/** Every /v1 route the simulator serves, in one table. */
import { actionRoutes } from "./actions.ts";
import { catalogueRoutes } from "./catalogue.ts";
import { firewallRoutes } from "./firewalls.ts";
import { primaryIpRoutes } from "./primary-ips.ts";
import type { Route } from "./router.ts";
import { serverUpdateRoutes } from "./server-updates.ts";
import { serverRoutes } from "./servers.ts";
import { sshKeyRoutes } from "./ssh-keys.ts";
import type { World } from "./world.ts";

export function apiRoutes(world: World): Route[] {
  return [
    ...serverRoutes(world),
    ...serverUpdateRoutes(world),
    ...actionRoutes(world.actions),
    ...sshKeyRoutes(world),
    ...firewallRoutes(world),
    ...catalogueRoutes(),
    ...primaryIpRoutes(world),
  ];
}
