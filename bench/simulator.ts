/**
 * Simulator benchmark: how fast the local Hetzner simulator answers with many servers, each with a
 * real fake machine (SSH listener, sandbox) behind it, and what that costs in memory. `bun bench/simulator.ts`.
 */
import { startSimulator } from "../sim/index.ts";
import { type BenchFigure, printFigures } from "./support/figures.ts";

const servers = 100;
const listRounds = 200;

function stats(name: string, samples: readonly number[], meanTargetMs: number): BenchFigure[] {
  const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
  return [
    { name: `${name} mean`, value: mean, unit: "ms", target: meanTargetMs },
    { name: `${name} max`, value: Math.max(...samples), unit: "ms", target: Number.POSITIVE_INFINITY },
  ];
}

async function timed(samples: number[], work: () => Promise<Response>): Promise<unknown> {
  const started = performance.now();
  const response = await work();
  const body: unknown = await response.json();
  samples.push(performance.now() - started);
  if (!response.ok) throw new Error(`simulator answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

export async function runSimulatorBench(): Promise<BenchFigure[]> {
  const sim = await startSimulator({ timeScale: 0.001 });
  const headers = { Authorization: `Bearer ${sim.token}`, "Content-Type": "application/json" };
  const create: number[] = [];
  const list: number[] = [];
  const poll: number[] = [];
  const actionIds: number[] = [];
  try {
    for (let i = 0; i < servers; i++) {
      const body = JSON.stringify({ name: `bench-${i}`, server_type: "cx23", image: "ubuntu-24.04" });
      const created = (await timed(create, () =>
        fetch(`${sim.endpoint}/servers`, { method: "POST", headers, body }),
      )) as { action: { id: number } };
      actionIds.push(created.action.id);
    }
    const batch = actionIds
      .slice(0, 50)
      .map((id) => `id=${id}`)
      .join("&");
    for (let i = 0; i < listRounds; i++) {
      await timed(list, () => fetch(`${sim.endpoint}/servers?per_page=50&page=${(i % 2) + 1}`, { headers }));
      await timed(poll, () => fetch(`${sim.endpoint}/actions?${batch}`, { headers }));
    }
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    const stopStarted = performance.now();
    await sim.stop();
    const stopMs = performance.now() - stopStarted;
    return [
      ...stats(`POST /servers with a machine (${servers} servers)`, create, 200),
      ...stats(`GET /servers?per_page=50 (${servers} servers)`, list, 25),
      ...stats("GET /actions with 50 ids", poll, 10),
      { name: `process RSS with ${servers} servers and machines`, value: rssMb, unit: "MB", target: 400 },
      { name: `stop() with ${servers} machines`, value: stopMs, unit: "ms", target: 5000 },
    ];
  } catch (err) {
    await sim.stop();
    throw err;
  }
}

if (import.meta.main) {
  const met = printFigures("simulator", await runSimulatorBench());
  process.exit(met ? 0 : 1);
}
