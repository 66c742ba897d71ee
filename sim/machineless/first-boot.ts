/**
 * What a machineless server's first boot leaves, read from its cloud-config instead of run: the accounts
 * (users with their authorized keys) and the setup marker. runcmd is taken as succeeded; a command whose
 * last argument is an absolute file path reports completion there, as the provisioner's boot script does
 * (jobs/provision/cloud-init/boot-from-bundle.sh: "<UTC time> <sha256>", the sha256 among its arguments).
 */
import { utils } from "ssh2";
import type { CloudConfig } from "../machine/cloud-init/config.ts";
import { splitWords } from "./shell-words.ts";
import type { LoginAccount } from "./state.ts";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const FILE_PATH = /^\/[^\s]*[^/]$/;

/** The accounts cloud-init creates: every named user, home /home/NAME unless its homedir says otherwise. */
export function bootAccounts(config: CloudConfig | null): LoginAccount[] {
  return (config?.users ?? []).map((user) => {
    const keys = (user.ssh_authorized_keys ?? []).flatMap((line) => {
      const parsed = utils.parseKey(line.trim());
      if (parsed instanceof Error) return [];
      return Array.isArray(parsed) ? parsed : [parsed];
    });
    return { name: user.name, home: user.homedir ?? `/home/${user.name}`, keys };
  });
}

/** The marker files the runcmd entries leave, by path. */
export function setupMarkers(config: CloudConfig | null, finishedAt: Date): Map<string, Buffer> {
  const time = `${finishedAt.toISOString().slice(0, 19)}Z`;
  const markers = new Map<string, Buffer>();
  for (const entry of config?.runcmd ?? []) {
    const argv = typeof entry === "string" ? (splitWords(entry) ?? []) : entry;
    const last = argv.at(-1);
    if (argv.length < 2 || last === undefined || !FILE_PATH.test(last)) continue;
    const sha256 = argv.find((arg) => SHA256_HEX.test(arg));
    markers.set(last, Buffer.from(`${[time, sha256].filter(Boolean).join(" ")}\n`));
  }
  return markers;
}
