/** Catalogue lookups, their Hetzner JSON shapes, and GET /locations, /datacenters, /server_types, /images. */
import {
  DATACENTERS,
  type Datacenter,
  IMAGES,
  type Image,
  LOCATIONS,
  type Location,
  SERVER_TYPES,
  type ServerTypeSpec,
} from "./catalogue-data.ts";
import { paginate, sortItems } from "./paging.ts";
import type { Route } from "./router.ts";

/** German VAT, which Hetzner's gross prices include. */
const VAT = 1.19;
/** Hours Hetzner bills per month before the monthly cap applies. */
const HOURS_PER_MONTH = 720;
/** Included traffic in bytes: 20 TB in the EU, 1 TB in the US and Singapore. */
const EU_TRAFFIC = 20 * 2 ** 40;
const OTHER_TRAFFIC = 2 ** 40;

function price(netEur: number) {
  return { net: netEur.toFixed(10), gross: (netEur * VAT).toFixed(10) };
}

export function serverTypeView(t: ServerTypeSpec) {
  const { monthlyEur, locations, ...rest } = t;
  return {
    ...rest,
    storage_type: "local" as const,
    deprecated: false,
    deprecation: null,
    locations: locations.map((name) => ({ id: locationByName(name)?.id ?? 0, name, deprecation: null })),
    prices: locations.map((location) => ({
      location,
      price_hourly: price(monthlyEur / HOURS_PER_MONTH),
      price_monthly: price(monthlyEur),
      included_traffic: includedTrafficBytes(location),
      price_per_tb_traffic: price(1),
    })),
  };
}

const EU_TRAFFIC_LOCATIONS = new Set(["fsn1", "nbg1", "hel1"]);

/** Traffic a server in this location may use per month without extra charge, in bytes. */
export function includedTrafficBytes(location: string): number {
  return EU_TRAFFIC_LOCATIONS.has(location) ? EU_TRAFFIC : OTHER_TRAFFIC;
}

export function datacenterView(dc: Datacenter) {
  const ids = SERVER_TYPES.filter((t) => t.locations.includes(dc.location.name)).map((t) => t.id);
  return { ...dc, server_types: { available: ids, supported: ids, available_for_migration: ids } };
}

export function imageView(image: Image) {
  return {
    ...image,
    type: "system" as const,
    status: "available" as const,
    architecture: "x86" as const,
    image_size: null,
    disk_size: 5,
    created: "2024-04-25T12:00:00+00:00",
    created_from: null,
    bound_to: null,
    deprecated: null,
    deleted: null,
    labels: {},
    protection: { delete: false },
    rapid_deploy: true,
  };
}

export function locationByName(name: string): Location | undefined {
  return LOCATIONS.find((l) => l.name === name);
}

export function datacenterByName(name: string): Datacenter | undefined {
  return DATACENTERS.find((d) => d.name === name);
}

export function datacenterIn(location: Location): Datacenter {
  const dc = DATACENTERS.find((d) => d.location.id === location.id);
  if (!dc) throw new Error(`catalogue has no datacenter in ${location.name}`);
  return dc;
}

/** Hetzner accepts a server type or image by name or by numeric id. */
export function serverTypeByNameOrId(ref: string): ServerTypeSpec | undefined {
  return SERVER_TYPES.find((t) => t.name === ref || String(t.id) === ref);
}

export function imageByNameOrId(ref: string): Image | undefined {
  return IMAGES.find((i) => i.name === ref || String(i.id) === ref);
}

export function serverTypeAvailableIn(t: ServerTypeSpec, location: Location): boolean {
  return t.locations.includes(location.name);
}

function byName<T extends { name: string }>(items: T[], query: URLSearchParams): T[] {
  const name = query.get("name");
  return name === null ? items : items.filter((i) => i.name === name);
}

const NAME_SORT = {
  id: (x: { id: number }) => x.id,
  name: (x: { id: number; name?: string }) => x.name ?? "",
};

/** GET /locations, /datacenters, /server_types and /images. */
export function catalogueRoutes(): Route[] {
  const list = <T extends { id: number; name: string }>(items: T[], query: URLSearchParams) =>
    paginate(sortItems(byName(items, query), query, NAME_SORT), query);
  return [
    {
      method: "GET",
      template: "/locations",
      handle: ({ query }) => {
        const { items, meta } = list(LOCATIONS, query);
        return Response.json({ locations: items, meta });
      },
    },
    {
      method: "GET",
      template: "/datacenters",
      handle: ({ query }) => {
        const { items, meta } = list(DATACENTERS, query);
        return Response.json({
          datacenters: items.map(datacenterView),
          recommendation: DATACENTERS[0]?.id,
          meta,
        });
      },
    },
    {
      method: "GET",
      template: "/server_types",
      handle: ({ query }) => {
        const { items, meta } = list(SERVER_TYPES, query);
        return Response.json({ server_types: items.map(serverTypeView), meta });
      },
    },
    {
      method: "GET",
      template: "/images",
      handle: ({ query }) => {
        const { items, meta } = list(IMAGES, query);
        return Response.json({ images: items.map(imageView), meta });
      },
    },
  ];
}
