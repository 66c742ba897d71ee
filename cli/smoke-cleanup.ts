/**
 * What a smoke run made at Hetzner, found by its label alone (never by the run's own records, which a crash
 * may have lost): servers first, then SSH keys and firewalls once nothing uses them; then a fresh look that
 * proves nothing is left.
 */

import { pollUntil } from "../core/wait.ts";
import type { HetznerClient } from "../hetzner/index.ts";
import { isHetznerError } from "../hetzner/index.ts";

/** The label every resource of one smoke run carries: `smoke-run=<id>`. */
export const SMOKE_LABEL = "smoke-run";

/** Selector of one run's resources, or of every smoke run's when `runId` is omitted. */
export function smokeSelector(runId?: string): string {
  return runId === undefined ? SMOKE_LABEL : `${SMOKE_LABEL}=${runId}`;
}

/** Resources matching a selector, one line each ("server rachel-i1 (#42, running)"). */
export interface LabelledResources {
  servers: number;
  sshKeys: number;
  firewalls: number;
  lines: string[];
}

export async function findLabelled(hetzner: HetznerClient, selector: string): Promise<LabelledResources> {
  const [servers, sshKeys, firewalls] = await Promise.all([
    hetzner.servers.listAll({ labelSelector: selector }),
    hetzner.sshKeys.listAll({ labelSelector: selector }),
    hetzner.firewalls.listAll({ labelSelector: selector }),
  ]);
  return {
    servers: servers.length,
    sshKeys: sshKeys.length,
    firewalls: firewalls.length,
    lines: [
      ...servers.map((s) => `server ${s.name} (#${s.id}, ${s.status}, labels ${formatLabels(s.labels)})`),
      ...sshKeys.map((k) => `SSH key ${k.name} (#${k.id}, labels ${formatLabels(k.labels)})`),
      ...firewalls.map((f) => `firewall ${f.name} (#${f.id}, labels ${formatLabels(f.labels)})`),
    ],
  };
}

export interface RemoveOptions {
  /** Bound of the whole removal, in ms (server deletion takes Hetzner seconds to a minute). */
  timeoutMs: number;
  /** Progress lines. */
  say: (line: string) => void;
}

/** Deletes everything matching `selector` and resolves with what a fresh listing still finds (all zero = clean). */
export async function removeLabelled(
  hetzner: HetznerClient,
  selector: string,
  options: RemoveOptions,
): Promise<LabelledResources> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  const servers = await hetzner.servers.listAll({ labelSelector: selector, signal });
  for (const server of servers) {
    if (server.status === "deleting") continue;
    // A server still being created is locked until its create action ends (a minute or more at Hetzner).
    await pollUntil(() => deleteServer(hetzner, server.id, signal), {
      timeoutMs: options.timeoutMs,
      intervalMs: 1000,
      description: `server ${server.name} to be unlocked for deletion`,
      signal,
    });
    options.say(`  deleting server ${server.name} (#${server.id})`);
  }
  // A firewall stays in use, and a key stays referenced, until its server is really gone.
  await pollUntil(
    async () => (await hetzner.servers.listAll({ labelSelector: selector, signal })).length === 0,
    {
      timeoutMs: options.timeoutMs,
      intervalMs: 1000,
      description: `servers ${selector} to be deleted`,
      signal,
    },
  );
  for (const key of await hetzner.sshKeys.listAll({ labelSelector: selector, signal })) {
    await hetzner.sshKeys.delete(key.id, { signal });
    options.say(`  deleted SSH key ${key.name} (#${key.id})`);
  }
  for (const firewall of await hetzner.firewalls.listAll({ labelSelector: selector, signal })) {
    // Hetzner detaches a deleted server's firewall shortly after the server is gone.
    await pollUntil(() => deleteFirewall(hetzner, firewall.id, signal), {
      timeoutMs: options.timeoutMs,
      intervalMs: 1000,
      description: `firewall ${firewall.name} to be released`,
      signal,
    });
    options.say(`  deleted firewall ${firewall.name} (#${firewall.id})`);
  }
  return findLabelled(hetzner, selector);
}

/** Bound of the cleanup by label (server deletion takes Hetzner seconds). */
const CLEANUP_TIMEOUT_MS = 300_000;

/** Deletes everything matching `selector` and reports; 0 when nothing is left, 1 otherwise. */
export async function cleanUpAndReport(
  hetzner: HetznerClient,
  selector: string,
  say: (line: string) => void,
): Promise<number> {
  say(`\ncleanup: deleting everything labelled ${selector} …`);
  try {
    const left = await removeLabelled(hetzner, selector, { timeoutMs: CLEANUP_TIMEOUT_MS, say });
    if (left.lines.length === 0) {
      say(`cleanup: nothing labelled ${selector} is left (servers 0, SSH keys 0, firewalls 0)`);
      return 0;
    }
    say(`cleanup: STILL LEFT (delete these in the Hetzner console):\n  ${left.lines.join("\n  ")}`);
  } catch (err) {
    say(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
    const left = await findLabelled(hetzner, selector).catch(() => null);
    if (left) say(`left:\n  ${left.lines.join("\n  ")}`);
    say("run `bun run smoke --clean` to try again");
  }
  return 1;
}

/** Every `intervalMs`, aborts `stop` once Hetzner has shown more than one server matching `selector`. */
export function watchServerCap(
  hetzner: HetznerClient,
  selector: string,
  stop: AbortController,
  intervalMs: number,
): Timer {
  const seen = new Set<number>();
  return setInterval(() => {
    hetzner.servers.listAll({ labelSelector: selector }).then(
      (servers) => {
        for (const server of servers) seen.add(server.id);
        if (seen.size > 1)
          stop.abort(new Error(`server cap: ${seen.size} servers were created, the cap is 1`));
      },
      () => undefined, // a failed check is retried on the next tick; the cleanup lists again anyway
    );
  }, intervalMs);
}

/** True once its deletion has started (or it is gone); false while it is locked by a running action. */
async function deleteServer(hetzner: HetznerClient, id: number, signal: AbortSignal): Promise<boolean> {
  try {
    await hetzner.servers.delete(id, { signal });
    return true;
  } catch (err) {
    if (isHetznerError(err, "locked")) return false;
    throw err;
  }
}

/** True once deleted (or already gone); false while still applied to a resource. */
async function deleteFirewall(hetzner: HetznerClient, id: number, signal: AbortSignal): Promise<boolean> {
  try {
    await hetzner.firewalls.delete(id, { signal });
    return true;
  } catch (err) {
    if (isHetznerError(err, "resource_in_use")) return false;
    throw err;
  }
}

function formatLabels(labels: Readonly<Record<string, string>> = {}): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}
