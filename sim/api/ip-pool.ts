/**
 * Public IPv4 addresses for servers, taken from 127.1.0.1 upward so each fake machine can bind its
 * own loopback address. The lowest free address is handed out first, so a freed address is reused
 * soon, as on real Hetzner (clients must never trust a host key by IP).
 */
import { SimApiError } from "./errors.ts";

const PER_THIRD_OCTET = 254;
const PER_SECOND_OCTET = PER_THIRD_OCTET * 256;
const CAPACITY = PER_SECOND_OCTET * 254;

function addressAt(index: number): string {
  const second = 1 + Math.floor(index / PER_SECOND_OCTET);
  const third = Math.floor(index / PER_THIRD_OCTET) % 256;
  const fourth = 1 + (index % PER_THIRD_OCTET);
  return `127.${second}.${third}.${fourth}`;
}

export class IpPool {
  private readonly used = new Set<number>();

  allocate(): string {
    for (let i = 0; i < CAPACITY; i++) {
      if (this.used.has(i)) continue;
      this.used.add(i);
      return addressAt(i);
    }
    throw new SimApiError(412, "resource_unavailable", "no free IPv4 address left");
  }

  release(address: string): void {
    const [, second = 0, third = 0, fourth = 0] = address.split(".").map(Number);
    this.used.delete((second - 1) * PER_SECOND_OCTET + third * PER_THIRD_OCTET + (fourth - 1));
  }
}
