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
import { notFound } from "./errors.ts";
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
    locations: locations.map((name) => ({ id: locationByRef(name)?.id ?? 0, name, deprecation: null })),
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

/** A request field the OpenAPI file documents as "ID or name". */
export type Ref = string | number;

/**
 * The item a reference names: a JSON number is an id; a string is a name, or an id when it is all digits
 * and names nothing (Hetzner's official clients look names up and then send the numeric id).
 */
export function byNameOrId<T extends { id: number; name: string }>(
  items: Iterable<T>,
  ref: Ref,
): T | undefined {
  const all = [...items];
  if (typeof ref === "number") return all.find((item) => item.id === ref);
  const named = all.find((item) => item.name === ref);
  return named ?? (/^\d+$/.test(ref) ? all.find((item) => item.id === Number(ref)) : undefined);
}

export function locationByRef(ref: Ref): Location | undefined {
  return byNameOrId(LOCATIONS, ref);
}

export function datacenterByRef(ref: Ref): Datacenter | undefined {
  return byNameOrId(DATACENTERS, ref);
}

export function serverTypeByRef(ref: Ref): ServerTypeSpec | undefined {
  return byNameOrId(SERVER_TYPES, ref);
}

export function imageByRef(ref: Ref): Image | undefined {
  return byNameOrId(IMAGES, ref);
}

export function datacenterIn(location: Location): Datacenter {
  const dc = DATACENTERS.find((d) => d.location.id === location.id);
  if (!dc) throw new Error(`catalogue has no datacenter in ${location.name}`);
  return dc;
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

interface CatalogueResource<T> {
  /** Collection path and list key, e.g. "server_types". */
  plural: string;
  /** Key of the single-resource answer, e.g. "server_type". */
  singular: string;
  items: T[];
  view(item: T): unknown;
  /** Further top-level fields of the list answer. */
  listExtras?: Record<string, unknown>;
}

function resourceRoutes<T extends { id: number; name: string }>(resource: CatalogueResource<T>): Route[] {
  const { plural, singular, items, view, listExtras } = resource;
  return [
    {
      method: "GET",
      template: `/${plural}`,
      handle: ({ query }) => {
        const page = paginate(sortItems(byName(items, query), query, NAME_SORT), query);
        return Response.json({ [plural]: page.items.map(view), ...listExtras, meta: page.meta });
      },
    },
    {
      method: "GET",
      template: `/${plural}/{id}`,
      handle: ({ params }) => {
        const item = items.find((i) => i.id === params.id);
        if (!item) throw notFound(singular);
        return Response.json({ [singular]: view(item) });
      },
    },
  ];
}

/** GET /locations, /datacenters, /server_types and /images, and each of them by id. */
export function catalogueRoutes(): Route[] {
  return [
    ...resourceRoutes({ plural: "locations", singular: "location", items: LOCATIONS, view: (l) => l }),
    ...resourceRoutes({
      plural: "datacenters",
      singular: "datacenter",
      items: DATACENTERS,
      view: datacenterView,
      listExtras: { recommendation: DATACENTERS[0]?.id },
    }),
    ...resourceRoutes({
      plural: "server_types",
      singular: "server_type",
      items: SERVER_TYPES,
      view: serverTypeView,
    }),
    ...resourceRoutes({ plural: "images", singular: "image", items: IMAGES, view: imageView }),
  ];
}
