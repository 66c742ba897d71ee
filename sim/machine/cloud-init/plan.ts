import type { FileOp } from "../sandbox/files.ts";
import { FRESH_ACCOUNTS } from "../sandbox/layout.ts";
import type { CloudConfig, CloudWriteFile } from "./config.ts";

/** Where cloud-init keeps what it was given and what it did for this instance. */
export const INSTANCE_DIR = "/var/lib/cloud/instance";
/** The runcmd script, where cloud-init keeps it. */
export const RUNCMD_SCRIPT = `${INSTANCE_DIR}/scripts/runcmd`;
/** Where cloud-init writes the `sudo:` rules of every user it creates. */
const SUDOERS_FILE = "/etc/sudoers.d/90-cloud-init-users";
/** First uid/gid cloud-init (through useradd) hands out to regular users. */
const FIRST_REGULAR_ID = 1000;

/**
 * Plans every file cloud-init's modules write, in their real order: write_files, then users and keys, then
 * deferred write_files, and the runcmd script (the box is named after the server already: see layout.ts).
 */
export function planConfigFiles(config: CloudConfig, userData: string): FileOp[] {
  const runcmd = config.runcmd.map((command) =>
    typeof command === "string" ? command : command.map(shlexQuote).join(" "),
  );
  return [
    { kind: "write", path: `${INSTANCE_DIR}/user-data.txt`, mode: "600", content: userData },
    ...config.write_files.filter((file) => !file.defer).map(writeFileOp),
    ...planUsers(config),
    ...config.write_files.filter((file) => file.defer).map(writeFileOp),
    {
      kind: "write",
      path: RUNCMD_SCRIPT,
      mode: "700",
      content: `#!/bin/sh\n${runcmd.map((line) => `${line}\n`).join("")}`,
    },
  ];
}

function writeFileOp(file: CloudWriteFile): FileOp {
  return { kind: "write", path: file.path, mode: file.permissions, content: file.content };
}

/**
 * What cloud-init's users-groups and ssh modules write: passwd and group entries, homes, authorized_keys and
 * sudo rules, added to a fresh box's account files (cloud-init runs once); a user already there is not made again.
 */
function planUsers(config: CloudConfig): FileOp[] {
  const passwd = FRESH_ACCOUNTS.passwd.split("\n").filter((line) => line !== "");
  const group = FRESH_ACCOUNTS.group.split("\n").filter((line) => line !== "");
  const ops: FileOp[] = [];
  let sudoers = "";
  for (const user of config.users) {
    const home = user.homedir ?? `/home/${user.name}`;
    if (!passwd.some((line) => line.startsWith(`${user.name}:`))) {
      const uid = freeId(passwd);
      passwd.push(`${user.name}:x:${uid}:${uid}:${user.gecos ?? ""}:${home}:${user.shell ?? "/bin/sh"}`);
      group.push(`${user.name}:x:${uid}:`);
      const groups = typeof user.groups === "string" ? user.groups.split(",") : (user.groups ?? []);
      for (const name of groups.map((entry) => entry.trim()).filter(Boolean))
        addMember(group, name, user.name);
      ops.push({ kind: "mkdir", path: home, mode: "755" });
    }
    ops.push(...authorizedKeys(home, user.ssh_authorized_keys ?? []));
    const rules = user.sudo ? [user.sudo].flat() : [];
    for (const rule of rules) sudoers += `\n# User rules for ${user.name}\n${user.name} ${rule}\n`;
  }
  ops.unshift(
    { kind: "write", path: "/etc/passwd", mode: "644", content: `${passwd.join("\n")}\n` },
    { kind: "write", path: "/etc/group", mode: "644", content: `${group.join("\n")}\n` },
  );
  if (sudoers)
    ops.push({
      kind: "write",
      path: SUDOERS_FILE,
      mode: "440",
      content: `# Created by cloud-init\n${sudoers}`,
    });
  return ops;
}

/** The lowest id from FIRST_REGULAR_ID up that no entry (a passwd or group line) uses. */
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

/** Python's shlex.quote, which cloud-init uses for list commands: safe words stay bare. */
function shlexQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
