/** The static catalogue the simulator offers: Hetzner's real locations, datacenters, server types and images. */

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

export interface Datacenter {
  id: number;
  name: string;
  description: string;
  location: Location;
}

export interface ServerTypeSpec {
  id: number;
  name: string;
  description: string;
  cores: number;
  /** GB of RAM. */
  memory: number;
  /** GB of local disk. */
  disk: number;
  cpu_type: "shared" | "dedicated";
  architecture: "x86" | "arm";
  category: string;
  /** Net monthly price in EUR, as Hetzner lists it. */
  monthlyEur: number;
  /** Names of the locations where the type can be ordered. */
  locations: string[];
}

export interface Image {
  id: number;
  name: string;
  description: string;
  os_flavor: "ubuntu" | "debian";
  os_version: string;
}

const EU = "eu-central";
export const LOCATIONS: Location[] = [
  {
    id: 1,
    name: "fsn1",
    description: "Falkenstein DC Park 1",
    country: "DE",
    city: "Falkenstein",
    latitude: 50.47612,
    longitude: 12.370071,
    network_zone: EU,
  },
  {
    id: 2,
    name: "nbg1",
    description: "Nuremberg DC Park 1",
    country: "DE",
    city: "Nuremberg",
    latitude: 49.452102,
    longitude: 11.076665,
    network_zone: EU,
  },
  {
    id: 3,
    name: "hel1",
    description: "Helsinki DC Park 1",
    country: "FI",
    city: "Helsinki",
    latitude: 60.169855,
    longitude: 24.938379,
    network_zone: EU,
  },
  {
    id: 4,
    name: "ash",
    description: "Ashburn, VA",
    country: "US",
    city: "Ashburn, VA",
    latitude: 39.045821,
    longitude: -77.487073,
    network_zone: "us-east",
  },
  {
    id: 5,
    name: "hil",
    description: "Hillsboro, OR",
    country: "US",
    city: "Hillsboro, OR",
    latitude: 45.54222,
    longitude: -122.951924,
    network_zone: "us-west",
  },
  {
    id: 6,
    name: "sin",
    description: "Singapore",
    country: "SG",
    city: "Singapore",
    latitude: 1.283333,
    longitude: 103.833333,
    network_zone: "ap-southeast",
  },
];

/** Hetzner's datacenter ids and names per location (one virtual DC each). */
const DATACENTER_NAMES: [id: number, name: string, location: string][] = [
  [4, "fsn1-dc14", "fsn1"],
  [2, "nbg1-dc3", "nbg1"],
  [3, "hel1-dc2", "hel1"],
  [5, "ash-dc1", "ash"],
  [6, "hil-dc1", "hil"],
  [7, "sin-dc1", "sin"],
];

export const DATACENTERS: Datacenter[] = DATACENTER_NAMES.flatMap(([id, name, locationName]) => {
  const location = LOCATIONS.find((l) => l.name === locationName);
  return location ? [{ id, name, description: `${location.city} virtual DC`, location }] : [];
});

const EU_ONLY = ["fsn1", "nbg1", "hel1"];
const EVERYWHERE = LOCATIONS.map((l) => l.name);
const shared = { cpu_type: "shared", architecture: "x86" } as const;

export const SERVER_TYPES: ServerTypeSpec[] = [
  {
    id: 114,
    name: "cx23",
    description: "CX23",
    cores: 2,
    memory: 4,
    disk: 40,
    ...shared,
    category: "cost_optimized",
    monthlyEur: 3.49,
    locations: EU_ONLY,
  },
  {
    id: 115,
    name: "cx33",
    description: "CX33",
    cores: 4,
    memory: 8,
    disk: 80,
    ...shared,
    category: "cost_optimized",
    monthlyEur: 5.49,
    locations: EU_ONLY,
  },
  {
    id: 22,
    name: "cpx11",
    description: "CPX 11",
    cores: 2,
    memory: 2,
    disk: 40,
    ...shared,
    category: "regular_purpose",
    monthlyEur: 4.99,
    locations: EVERYWHERE,
  },
  {
    id: 23,
    name: "cpx21",
    description: "CPX 21",
    cores: 3,
    memory: 4,
    disk: 80,
    ...shared,
    category: "regular_purpose",
    monthlyEur: 8.99,
    locations: EVERYWHERE,
  },
  {
    id: 45,
    name: "cax11",
    description: "CAX11",
    cores: 2,
    memory: 4,
    disk: 40,
    cpu_type: "shared",
    architecture: "arm",
    category: "cost_optimized",
    monthlyEur: 3.79,
    locations: EU_ONLY,
  },
  {
    id: 96,
    name: "ccx13",
    description: "CCX13 Dedicated CPU",
    cores: 2,
    memory: 8,
    disk: 80,
    cpu_type: "dedicated",
    architecture: "x86",
    category: "general_purpose",
    monthlyEur: 12.49,
    locations: EVERYWHERE,
  },
];

export const IMAGES: Image[] = [
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
  { id: 226847226, name: "debian-13", description: "Debian 13", os_flavor: "debian", os_version: "13" },
];
