/** The static catalogue: locations, datacenters, server types and images, shaped like Hetzner's. */
import { paginate, sortItems } from "./paging.ts";
import type { Route } from "./router.ts";

export interface Location {
  id: number;
  name: string;
  description: string;
  country: string;
  city: string;
  latitude: number;
  longitude: number;
  network_zone: string;
}

const EU = "eu-central";
export const LOCATIONS: Location[] = [
  loc(1, "fsn1", "Falkenstein DC Park 1", "DE", "Falkenstein", 50.47612, 12.370071, EU),
  loc(2, "nbg1", "Nuremberg DC Park 1", "DE", "Nuremberg", 49.452102, 11.076665, EU),
  loc(3, "hel1", "Helsinki DC Park 1", "FI", "Helsinki", 60.169855, 24.938379, EU),
  loc(4, "ash", "Ashburn, VA", "US", "Ashburn, VA", 39.045821, -77.487073, "us-east"),
  loc(5, "hil", "Hillsboro, OR", "US", "Hillsboro, OR", 45.54222, -122.951924, "us-west"),
  loc(6, "sin", "Singapore", "SG", "Singapore", 1.283333, 103.833333, "ap-southeast"),
];

function loc(
  ...[id, name, description, country, city, latitude, longitude, zone]: [
    number,
    string,
    string,
    string,
    string,
    number,
    number,
    string,
  ]
): Location {
  return { id, name, description, country, city, latitude, longitude, network_zone: zone };
}

interface ServerTypeSpec {
  id: number;
  name: string;
  description: string;
  cores: number;
  memory: number;
  disk: number;
  cpu_type: "shared" | "dedicated";
  architecture: "x86" | "arm";
  category: string;
  /** Net monthly price in EUR, as Hetzner lists it. */
  monthlyEur: number;
  locations: string[];
}

const EU_ONLY = ["fsn1", "nbg1", "hel1"];
const EVERYWHERE = LOCATIONS.map((l) => l.name);
const TYPES: ServerTypeSpec[] = [
  type(114, "cx23", 2, 4, 40, "shared", "x86", "cost_optimized", 3.49, EU_ONLY),
  type(115, "cx33", 4, 8, 80, "shared", "x86", "cost_optimized", 5.49, EU_ONLY),
  type(22, "cpx11", 2, 2, 40, "shared", "x86", "regular_purpose", 4.99, EVERYWHERE),
  type(23, "cpx21", 3, 4, 80, "shared", "x86", "regular_purpose", 8.99, EVERYWHERE),
  type(45, "cax11", 2, 4, 40, "shared", "arm", "cost_optimized", 3.79, EU_ONLY),
  type(96, "ccx13", 2, 8, 80, "dedicated", "x86", "general_purpose", 12.49, EVERYWHERE),
];

function type(
  ...[id, name, cores, memory, disk, cpu_type, architecture, category, monthlyEur, locations]: [
    number,
    string,
    number,
    number,
    number,
    "shared" | "dedicated",
    "x86" | "arm",
    string,
    number,
    string[],
  ]
): ServerTypeSpec {
  const description = name.toUpperCase();
  return {
    id,
    name,
    description,
    cores,
    memory,
    disk,
    cpu_type,
    architecture,
    category,
    monthlyEur,
    locations,
  };
}

function price(netEur: number) {
  return { net: netEur.toFixed(10), gross: (netEur * 1.19).toFixed(10) };
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
      price_hourly: price(Math.round((monthlyEur / 720) * 10000) / 10000),
      price_monthly: price(monthlyEur),
      included_traffic: location === "ash" || location === "hil" || location === "sin" ? 1e12 : 2e13,
      price_per_tb_traffic: price(1),
    })),
  };
}

export interface Datacenter {
  id: number;
  name: string;
  description: string;
  location: Location;
}

const DC_NUMBERS: Record<string, [id: number, dc: number]> = {
  fsn1: [4, 14],
  nbg1: [2, 3],
  hel1: [3, 2],
  ash: [5, 1],
  hil: [6, 1],
  sin: [7, 1],
};

export const DATACENTERS: Datacenter[] = LOCATIONS.map((location) => {
  const [id, dc] = DC_NUMBERS[location.name] ?? [0, 0];
  return { id, name: `${location.name}-dc${dc}`, description: `${location.city} virtual DC ${dc}`, location };
});

export function datacenterView(dc: Datacenter) {
  const ids = TYPES.filter((t) => t.locations.includes(dc.location.name)).map((t) => t.id);
  return { ...dc, server_types: { available: ids, supported: ids, available_for_migration: ids } };
}

export interface Image {
  id: number;
  name: string;
  description: string;
  os_flavor: "ubuntu" | "debian";
  os_version: string;
}

const IMAGES: Image[] = [
  {
    id: 161547269,
    name: "ubuntu-24.04",
    description: "Ubuntu 24.04",
    os_flavor: "ubuntu",
    os_version: "24.04",
  },
  {
    id: 67794396,
    name: "ubuntu-22.04",
    description: "Ubuntu 22.04",
    os_flavor: "ubuntu",
    os_version: "22.04",
  },
  { id: 114690387, name: "debian-12", description: "Debian 12", os_flavor: "debian", os_version: "12" },
];

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
  return TYPES.find((t) => t.name === ref || String(t.id) === ref);
}

export function imageByNameOrId(ref: string): Image | undefined {
  return IMAGES.find((i) => i.name === ref || String(i.id) === ref);
}

export function serverTypeAvailableIn(t: ServerTypeSpec, location: Location): boolean {
  return t.locations.includes(location.name);
}

export type { ServerTypeSpec };

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
  return [
    {
      method: "GET",
      template: "/locations",
      handle: ({ query }) => {
        const { items, meta } = paginate(sortItems(byName(LOCATIONS, query), query, NAME_SORT), query);
        return Response.json({ locations: items, meta });
      },
    },
    {
      method: "GET",
      template: "/datacenters",
      handle: ({ query }) => {
        const { items, meta } = paginate(sortItems(byName(DATACENTERS, query), query, NAME_SORT), query);
        const recommendation = DATACENTERS[0]?.id ?? 0;
        return Response.json({ datacenters: items.map(datacenterView), recommendation, meta });
      },
    },
    {
      method: "GET",
      template: "/server_types",
      handle: ({ query }) => {
        const { items, meta } = paginate(byName(TYPES, query), query);
        return Response.json({ server_types: items.map(serverTypeView), meta });
      },
    },
    {
      method: "GET",
      template: "/images",
      handle: ({ query }) => {
        const { items, meta } = paginate(sortItems(byName(IMAGES, query), query, NAME_SORT), query);
        return Response.json({ images: items.map(imageView), meta });
      },
    },
  ];
}
