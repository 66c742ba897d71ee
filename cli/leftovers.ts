/**
 * What a deprovisioned customer leaves behind, checked where it would be: servers and SSH keys at the
 * (simulated) Hetzner API, the customer's sealed secrets and the instance row in the app database.
 */
import { eq } from "drizzle-orm";
import type { Db } from "../db/index.ts";
import { customers, instances } from "../db/schema.ts";
import type { HetznerClient } from "../hetzner/client.ts";

export interface LeftoverCheck {
  what: string;
  /** What was found, e.g. "0" or "deprovisioned". */
  found: string;
  ok: boolean;
}

export interface LeftoverTarget {
  db: Db;
  /** A client of the (simulated) Hetzner API the service provisions at. */
  hetzner: HetznerClient;
  customerId: string;
  instanceId: string;
}

/** One check per thing that must be gone; all ok means nothing is left. */
export async function checkLeftovers(target: LeftoverTarget): Promise<LeftoverCheck[]> {
  const [servers, sshKeys] = await Promise.all([
    target.hetzner.servers.listAll().then((list) => list.length),
    target.hetzner.sshKeys.listAll().then((list) => list.length),
  ]);
  const customer = target.db.select().from(customers).where(eq(customers.id, target.customerId)).get();
  const instance = target.db.select().from(instances).where(eq(instances.id, target.instanceId)).get();
  const secretsLeft = customer
    ? [
        customer.telegramBotToken,
        customer.ownerTelegramUserId,
        customer.clearOwnerTelegramUserId,
        customer.claudeCredentials,
      ].filter((value) => value !== null).length
    : 0;
  return [
    { what: "servers at Hetzner", found: String(servers), ok: servers === 0 },
    { what: "SSH keys at Hetzner", found: String(sshKeys), ok: sshKeys === 0 },
    {
      what: "customer secrets (sealed columns left)",
      found: `${secretsLeft}${customer?.shreddedAt ? ", shredded" : ", NOT shredded"}`,
      ok: secretsLeft === 0 && Boolean(customer?.shreddedAt),
    },
    {
      what: "instance SSH private key and callback token",
      found: instance
        ? String([instance.sshPrivateKey, instance.callbackToken].filter((v) => v !== null).length)
        : "-",
      ok: instance?.sshPrivateKey === null && instance.callbackToken === null,
    },
    {
      what: "instance status",
      found: instance?.status ?? "missing",
      ok: instance?.status === "deprovisioned",
    },
  ];
}
