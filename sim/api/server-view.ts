/** The server record the simulator keeps and its JSON shape (Hetzner's `server` schema). */
import type { Machine } from "../machine-contract.ts";
import { datacenterView, imageView, includedTrafficBytes, serverTypeView } from "./catalogue.ts";
import type { Datacenter, Image, ServerTypeSpec } from "./catalogue-data.ts";
import { firewallsOf } from "./firewalls.ts";
import type { Labels } from "./labels.ts";
import type { World } from "./world.ts";

export type ServerStatus = "initializing" | "starting" | "running" | "off" | "deleting";

export interface Server {
  id: number;
  name: string;
  status: ServerStatus;
  created: string;
  labels: Labels;
  serverType: ServerTypeSpec;
  image: Image;
  datacenter: Datacenter;
  ipv4: string;
  ipv6: string;
  /** Ids of the server's primary IPs, as Hetzner numbers them: their own range, not the server's id. */
  primaryIpIds: { ipv4: number; ipv6: number };
  /** Delete and rebuild protection (change_protection); Hetzner keeps the two equal. */
  protection: { delete: boolean; rebuild: boolean };
  userData: string | null;
  /** False until create_server ends; other actions answer 423 locked meanwhile. */
  createFinished: boolean;
  /** Set once the fake machine behind the server exists. */
  machine: Machine | null;
}

export function serverView(world: World, server: Server) {
  const dc = datacenterView(server.datacenter);
  return {
    id: server.id,
    name: server.name,
    status: server.status,
    created: server.created,
    labels: server.labels,
    locked: false,
    backup_window: null,
    rescue_enabled: false,
    protection: { ...server.protection },
    server_type: serverTypeView(server.serverType),
    image: imageView(server.image),
    iso: null,
    datacenter: dc,
    location: dc.location,
    primary_disk_size: server.serverType.disk,
    included_traffic: includedTrafficBytes(dc.location.name),
    ingoing_traffic: 0,
    outgoing_traffic: 0,
    placement_group: null,
    private_net: [],
    load_balancers: [],
    volumes: [],
    public_net: {
      ipv4: {
        id: server.primaryIpIds.ipv4,
        ip: server.ipv4,
        blocked: false,
        dns_ptr: `static.${server.ipv4}.clients.your-server.de`,
      },
      ipv6: { id: server.primaryIpIds.ipv6, ip: server.ipv6, blocked: false, dns_ptr: [] },
      floating_ips: [],
      firewalls: firewallsOf(world, server.id, server.labels).map((f) => ({
        id: f.id,
        status: "applied" as const,
      })),
    },
  };
}
