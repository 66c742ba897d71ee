import type { FileOp } from "../sandbox/files.ts";
import type { CloudConfig, CloudUser } from "./config.ts";

/** First uid/gid cloud-init (through useradd) hands out to regular users. */
const FIRST_REGULAR_ID = 1000;
/** Where cloud-init writes the `sudo:` rules of every user it creates. */
export const SUDOERS_FILE = "/etc/sudoers.d/90-cloud-init-users";

/** The box's account files as they are before cloud-init's users module runs. */
export interface AccountFiles {
  passwd: string;
  group: string;
}

/**
 * Plans what cloud-init's users-groups and ssh modules write: passwd and group entries, homes,
 * authorized_keys, sudo rules, and root's keys from the top-level `ssh_authorized_keys`. A user that exists
 * already is not made again, as in cloud-init.
 */
export function planUsers(config: CloudConfig, files: AccountFiles): FileOp[] {
  const passwd = lines(files.passwd);
  const group = lines(files.group);
  const ops: FileOp[] = [];
  const sudoRules: string[] = [];
  for (const user of config.users) {
    if (user === "default") continue;
    const home = user.homedir ?? `/home/${user.name}`;
    if (!passwd.some((line) => line.startsWith(`${user.name}:`))) {
      const uid = freeId(passwd);
      passwd.push(`${user.name}:x:${uid}:${uid}:${user.gecos ?? ""}:${home}:${user.shell ?? "/bin/sh"}`);
      group.push(`${user.name}:x:${uid}:`);
      for (const name of groupsOf(user)) addMember(group, name, user.name);
      ops.push({ kind: "mkdir", path: home, mode: "755" });
    }
    ops.push(...authorizedKeys(home, user.ssh_authorized_keys ?? []));
    const rules =
      user.sudo === undefined || user.sudo === null || user.sudo === false ? [] : [user.sudo].flat();
    for (const rule of rules) sudoRules.push(`\n# User rules for ${user.name}\n${user.name} ${rule}\n`);
  }
  ops.unshift(
    { kind: "write", path: "/etc/passwd", mode: "644", content: `${passwd.join("\n")}\n` },
    { kind: "write", path: "/etc/group", mode: "644", content: `${group.join("\n")}\n` },
  );
  if (sudoRules.length > 0) {
    const content = `# Created by cloud-init (stand-in)\n${sudoRules.join("")}`;
    ops.push({ kind: "write", path: SUDOERS_FILE, mode: "440", content });
  }
  ops.push(...authorizedKeys("/root", config.ssh_authorized_keys));
  return ops;
}

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

function groupsOf(user: CloudUser): string[] {
  const groups = typeof user.groups === "string" ? user.groups.split(",") : (user.groups ?? []);
  return groups.map((group) => group.trim()).filter((group) => group !== "");
}

/** The lowest id from FIRST_REGULAR_ID up that no entry of `entries` (passwd or group lines) uses. */
function freeId(entries: string[]): number {
  const taken = new Set(entries.map((line) => Number(line.split(":")[2])));
  let id = FIRST_REGULAR_ID;
  while (taken.has(id)) id++;
  return id;
}

/** Adds `member` to group `name`, creating the group as cloud-init does when it is missing. */
function addMember(group: string[], name: string, member: string): void {
  const index = group.findIndex((line) => line.split(":")[0] === name);
  const line = group[index];
  if (line === undefined) group.push(`${name}:x:${freeId(group)}:${member}`);
  else group[index] = line.endsWith(":") ? `${line}${member}` : `${line},${member}`;
}

function authorizedKeys(home: string, keys: string[]): FileOp[] {
  if (keys.length === 0) return [];
  const content = `${keys.map((key) => key.trim()).join("\n")}\n`;
  return [
    { kind: "mkdir", path: `${home}/.ssh`, mode: "700" },
    { kind: "write", path: `${home}/.ssh/authorized_keys`, mode: "600", content },
  ];
}
