/** Starts a simulator and a client bound to it with a private budget and test-sized retry delays. */

import type { HetznerLogger } from "../../hetzner/index.ts";
import { createHetznerClient, type HetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../sim/index.ts";

export interface CapturedLog {
  level: "debug" | "warn";
  fields: object;
  message: string;
}

export interface Harness {
  sim: Simulator;
  client: HetznerClient;
  budget: RateLimitBudget;
  logs: CapturedLog[];
  /** Requests the simulator served for one method and path template. */
  served(method: string, path: string): number;
}

export interface HarnessOptions {
  sim?: SimulatorOptions;
  /** Budget refill rate; must match the simulator's (default 1, as Hetzner). */
  refillPerSecond?: number;
  requestTimeoutMs?: number;
  attempts?: number;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const sim = await startSimulator({ timeScale: 0.001, ...options.sim });
  const budget = new RateLimitBudget({ refillPerSecond: options.refillPerSecond ?? 1 });
  const logs: CapturedLog[] = [];
  const log: HetznerLogger = {
    debug: (fields, message) => logs.push({ level: "debug", fields, message }),
    warn: (fields, message) => logs.push({ level: "warn", fields, message }),
  };
  const client = createHetznerClient({
    endpoint: sim.endpoint,
    token: sim.token,
    budget,
    log,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    retry: { attempts: options.attempts ?? 5, startingDelayMs: 20, maxDelayMs: 200 },
  });
  const served = (method: string, path: string) =>
    sim.requests().filter((r) => r.method === method && r.path === path).length;
  return { sim, client, budget, logs, served };
}

/** The smallest create body the simulator accepts; callers override what a test is about. */
export function serverInput(name: string) {
  return { name, serverType: "cx23", image: "ubuntu-24.04", location: "nbg1" };
}
