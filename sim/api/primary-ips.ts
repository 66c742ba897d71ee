/**
 * Primary IPs, read-only: the IPv4 and IPv6 every server gets at create, under ids of their own, listed
 * and fetched as Hetzner shows them (clients load a server's `public_net` IPs through them). They live and
 * die with their server (auto_delete), as the ones Hetzner creates with a server do by default.
 */
import { datacenterView } from "./catalogue.ts";
import { notFound } from "./errors.ts";
import { matchesSelector, parseSelector } from "./labels.ts";
import { paginate, sortItems } from "./paging.ts";
import type { Route } from "./router.ts";
import type { Server } from "./server-view.ts";
import type { World } from "./world.ts";

interface PrimaryIp {
  id: number;
  type: "ipv4" | "ipv6";
  server: Server;
}

function primaryIpsOf(world: World): PrimaryIp[] {
  return [...world.servers.values()].flatMap((server): PrimaryIp[] => [
    { id: server.primaryIpIds.ipv4, type: "ipv4", server },
    { id: server.primaryIpIds.ipv6, type: "ipv6", server },
  ]);
}

function primaryIpView({ id, type, server }: PrimaryIp) {
  const dc = datacenterView(server.datacenter);
  const ip = type === "ipv4" ? server.ipv4 : server.ipv6;
  return {
    id,
    name: `primary_ip-${id}`,
    type,
    ip,
    dns_ptr: type === "ipv4" ? [{ ip, dns_ptr: `static.${ip}.clients.your-server.de` }] : [],
    assignee_id: server.id,
    assignee_type: "server" as const,
    auto_delete: true,
    blocked: false,
    created: server.created,
    labels: {},
    protection: { delete: false },
    datacenter: dc,
    location: dc.location,
  };
}

export function primaryIpRoutes(world: World): Route[] {
  return [
    {
      method: "GET",
      template: "/primary_ips",
      handle: ({ query }) => {
        const selector = parseSelector(query.get("label_selector"));
        const name = query.get("name");
        const ip = query.get("ip");
        const matching = primaryIpsOf(world)
          .map(primaryIpView)
          .filter(
            (view) =>
              (name === null || view.name === name) &&
              (ip === null || view.ip === ip) &&
              matchesSelector(selector, view.labels),
          );
        const sorted = sortItems(matching, query, { id: (v) => v.id, created: (v) => v.created });
        const { items, meta } = paginate(sorted, query);
        return Response.json({ primary_ips: items, meta });
      },
    },
    {
      method: "GET",
      template: "/primary_ips/{id}",
      handle: ({ params }) => {
        const found = primaryIpsOf(world).find((p) => p.id === params.id);
        if (!found) throw notFound("primary_ip");
        return Response.json({ primary_ip: primaryIpView(found) });
      },
    },
  ];
}
