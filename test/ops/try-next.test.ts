/** The "try next" block's choices: which URL each command goes to, and nothing billed against Hetzner. */
import { expect, test } from "bun:test";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { formatTryNext, type TryNextTarget, tryNextCommands } from "../../cli/try-next.ts";

const base: TryNextTarget = {
  apiUrls: { private: "http://127.0.0.1:7001", public: "http://127.0.0.1:7002" },
  dataDir: "/tmp/stack dir",
  envFile: "/tmp/stack dir/dev.env",
  newCustomer: { id: "cus_try", secrets: fakeCustomerSecrets("try") },
};

test("ops and registration go to the private URL, the webhook to the public one", () => {
  const commands = tryNextCommands(base);
  const ops = commands.filter(({ command }) => command.includes("bun run ops"));
  expect(ops.length).toBeGreaterThanOrEqual(3);
  for (const { command } of ops) expect(command).toStartWith("OPS_API_URL=http://127.0.0.1:7001 ");
  const registration = commands.find(({ command }) => command.includes("/v1/customers/cus_try"));
  expect(registration?.command).toContain("-X PUT http://127.0.0.1:7001/v1/customers/cus_try");
  const webhook = commands.find(({ command }) => command.includes("/v1/webhooks/standard"));
  expect(webhook?.command).toContain("http://127.0.0.1:7002/v1/webhooks/standard");
  // A path with a space stays one word.
  expect(ops[0]?.command).toContain("DATA_DIR='/tmp/stack dir' ");
});

test("against Hetzner nothing is provisioned: the signed event cancels, and no simulator or SSH command", () => {
  const block = formatTryNext(base, tryNextCommands(base));
  expect(block).toContain('"type":"subscription.canceled"');
  expect(block).not.toContain("subscription.active");
  expect(block).not.toContain("/_sim/");
  expect(block).not.toContain("ssh ");
});

test("on the simulator without an instance, the new customer is paid for and the instances listed", () => {
  const commands = tryNextCommands({ ...base, simBaseUrl: "http://127.0.0.1:7003" });
  const whats = commands.map(({ what }) => what);
  expect(whats).toContain("the simulator's machines");
  const paid = commands.find(({ command }) => command.includes("subscription.active"));
  expect(paid?.command).toContain('"customer_id":"cus_try"');
  expect(commands.at(-1)?.command).toEndWith("bun run ops instances");
});

test("the stack's secrets are read from the env file, never printed", () => {
  const block = formatTryNext(base, tryNextCommands({ ...base, simBaseUrl: "http://127.0.0.1:7003" }));
  expect(block).toContain("$SERVICE_TOKEN");
  expect(block).toContain(`"\${STANDARD_WEBHOOK_SECRET#whsec_}"`);
  expect(block.match(/\( \. '\/tmp\/stack dir\/dev\.env'/g)).toHaveLength(2);
});

test("SSH to a container machine runs inside the simulator's lab, pinned to its reported key", () => {
  const ssh = {
    user: "rachel",
    host: "10.1.0.1",
    port: 2222,
    privateKeyFile: "/tmp/stack dir/ssh/i_ed25519",
    knownHostsFile: "/tmp/stack dir/ssh/known_hosts",
  };
  const instance = { id: "i1", customerId: "cus_1" };
  const direct = tryNextCommands({ ...base, instance: { ...instance, ssh: { ...ssh, via: [] } } });
  expect(direct.find(({ command }) => command.includes("ssh "))?.command).toStartWith(
    "ssh -i '/tmp/stack dir/",
  );
  const via = ["nsenter", "--net=/run/netns/rsim-1-ab", "--"];
  const inLab = tryNextCommands({ ...base, instance: { ...instance, ssh: { ...ssh, via } } });
  const command = inLab.find(({ command }) => command.includes("ssh "));
  expect(command?.command).toStartWith("nsenter --net=/run/netns/rsim-1-ab -- ssh -i '/tmp/stack dir/");
  expect(command?.command).toContain("-o StrictHostKeyChecking=yes -p 2222 rachel@10.1.0.1 ");
  expect(command?.what).toContain("a real Debian 13 machine, reached from inside the simulator's lab");
});
