/**
 * What a person can try next against a running stack (`bun run demo --keep`, `bun run dev`): shell commands
 * with the stack's real URLs and ids, each standing alone (paste it into any shell in the repository). The
 * stack's secrets are never printed: the commands read them from its mode-0600 env file, DATA_DIR/dev.env.
 */
import type { CustomerSecrets } from "../domain/customers.ts";
import { RACHEL8_UNIT_NAME } from "../domain/rachel8.ts";
import { shellQuote } from "../remote/shell-quote.ts";
import type { ApiUrls } from "./local-stack.ts";
import type { SshAccess } from "./ssh-access.ts";

/** curl that fails (exit 22) on an error status but still shows the JSON error body, and ends with a newline. */
const CURL = "curl -sS --fail-with-body -w '\\n'";

export interface TryNextTarget {
  /** The started API: ops and registration go to `private`, webhooks to `public`. */
  apiUrls: ApiUrls;
  /** The stack's DATA_DIR, absolute: `bun run ops` reads OPS_TOKEN from its dev.env. */
  dataDir: string;
  /** The env file holding SERVICE_TOKEN and STANDARD_WEBHOOK_SECRET (DATA_DIR/dev.env). */
  envFile: string;
  /** The simulator's base URL (its control API is under /_sim/); absent against Hetzner. */
  simBaseUrl?: string;
  /** A ready instance to inspect, SSH into and cancel; absent when there is none yet. */
  instance?: { id: string; customerId: string; ssh: SshAccess };
  /** A customer to register: a fresh id and fake secrets. */
  newCustomer: { id: string; secrets: CustomerSecrets };
}

/** One thing to try: what it shows (one line) and the shell command (one or more lines). */
export interface TryCommand {
  what: string;
  command: string;
}

export function tryNextCommands(target: TryNextTarget): TryCommand[] {
  const ops = `OPS_API_URL=${target.apiUrls.private} DATA_DIR=${shellQuote(target.dataDir)} bun run ops`;
  const { instance, simBaseUrl, newCustomer } = target;
  const commands: TryCommand[] = [{ what: "the fleet, as an operator sees it", command: `${ops} status` }];
  commands.push(
    instance
      ? {
          what: `instance ${instance.id}: operations, steps, timeline`,
          command: `${ops} instance ${instance.id}`,
        }
      : { what: "the instances, newest first", command: `${ops} instances` },
  );
  commands.push({
    what: "what a reconcile sweep would do now (changes nothing)",
    command: `${ops} reconcile --dry-run`,
  });
  if (instance) commands.push(sshCommand(instance.ssh));
  if (simBaseUrl) {
    commands.push(
      { what: "the simulator's machines", command: `${CURL} ${simBaseUrl}/_sim/machines` },
      {
        what: "the Hetzner API requests the simulator served",
        command: `${CURL} ${simBaseUrl}/_sim/requests`,
      },
    );
  }
  commands.push({
    what: `register another customer, ${newCustomer.id} (fake secrets), as the onboarding service does`,
    command: registration(target),
  });
  if (instance) {
    commands.push(
      {
        what: `cancel ${instance.customerId}'s subscription: a signed Standard Webhooks event deprovisions their server`,
        command: signedWebhook(target, "subscription.canceled", instance.customerId),
      },
      { what: "watch the deprovision (again until it is done)", command: `${ops} instance ${instance.id}` },
    );
  } else if (simBaseUrl) {
    commands.push(
      {
        what: `pay for ${newCustomer.id}: a signed Standard Webhooks event provisions their server on the simulator`,
        command: signedWebhook(target, "subscription.active", newCustomer.id),
      },
      { what: "watch the provision", command: `${ops} instances` },
    );
  } else {
    // Against Hetzner a paid event would create a real, billed server: the signed example cancels instead.
    commands.push({
      what: `a signed Standard Webhooks event: ${newCustomer.id} cancels (no server, so nothing to tear down)`,
      command: signedWebhook(target, "subscription.canceled", newCustomer.id),
    });
  }
  return commands;
}

/** The block to print: a header naming the env file, then each command under a `#` line saying what it shows. */
export function formatTryNext(target: TryNextTarget, commands: readonly TryCommand[]): string {
  const items = commands.map(({ what, command }) => `  # ${what}\n${command.replace(/^/gm, "  ")}`);
  return (
    `try next, in another shell in this directory (secrets are read from ${target.envFile}, mode 0600):\n\n` +
    `${items.join("\n\n")}\n`
  );
}

function sshCommand(ssh: SshAccess): TryCommand {
  const via = ssh.via.map((word) => (/^[\w=./:-]+$/.test(word) ? word : shellQuote(word))).join(" ");
  return {
    what:
      "the bot's unit on its server: SSH pinned to the host key it reported, with a decrypted copy of its sealed " +
      "key (removed on exit); " +
      (via
        ? "a real Debian 13 machine, reached from inside the simulator's lab (as root)"
        : "the simulated machine runs commands, not login shells"),
    command:
      `${via ? `${via} ` : ""}ssh -i ${shellQuote(ssh.privateKeyFile)} -o IdentitiesOnly=yes -o UserKnownHostsFile=${shellQuote(ssh.knownHostsFile)} ` +
      `-o StrictHostKeyChecking=yes -p ${ssh.port} ${ssh.user}@${ssh.host} systemctl status ${RACHEL8_UNIT_NAME}`,
  };
}

function registration({ apiUrls, envFile, newCustomer }: TryNextTarget): string {
  return [
    `( . ${shellQuote(envFile)}`,
    `  ${CURL} -X PUT ${apiUrls.private}/v1/customers/${newCustomer.id} \\`,
    `    -H "Authorization: Bearer $SERVICE_TOKEN" -H 'Content-Type: application/json' \\`,
    `    -d ${shellQuote(JSON.stringify(newCustomer.secrets))} )`,
  ].join("\n");
}

/** The recipe in docs/webhooks.md: base64 HMAC-SHA256 of "id.timestamp.body" under the secret's base64-decoded key. */
function signedWebhook({ apiUrls, envFile }: TryNextTarget, type: string, customerId: string): string {
  // customerId is letters, digits, _ and - (the API's rule), so it needs no escaping inside the quotes.
  const body = `{"type":"${type}","timestamp":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'","data":{"id":"sub_${customerId}","customer_id":"${customerId}"}}`;
  return [
    `( . ${shellQuote(envFile)}`,
    `  ID="msg_$(date +%s%N)"; TS="$(date +%s)"`,
    `  BODY='${body}'`,
    `  KEY_HEX="$(printf %s "\${STANDARD_WEBHOOK_SECRET#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \\n')"`,
    `  SIG="$(printf %s "$ID.$TS.$BODY" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY_HEX" -binary | base64)"`,
    `  ${CURL} -X POST ${apiUrls.public}/v1/webhooks/standard -H 'Content-Type: application/json' \\`,
    `    -H "webhook-id: $ID" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" -d "$BODY" )`,
  ].join("\n");
}
