import type { FileOp } from "../sandbox/files.ts";
import type { CloudConfig, CloudUser } from "./config.ts";

/** First uid/gid cloud-init (through useradd) hands out to regular users. */
const FIRST_REGULAR_ID = 1000;
/** Where cloud-init writes the `sudo:` rules of every user it creates. */
export const SUDOERS_FILE = "/etc/sudoers.d/90-cloud-init-users";

interface Account {
  name: string;
  uid: number;
  home: string;
  shell: string;
  gecos: string;
  groups: string[];
  sudo: string[];
  keys: string[];
}

/** The box's account files as they are before cloud-init's users module runs. */
export interface AccountFiles {
  passwd: string;
  group: string;
}

/**
 * Plans what cloud-init's users-groups and ssh modules write: passwd and group entries, homes,
 * authorized_keys, sudo rules, and root's keys from the top-level `ssh_authorized_keys`.
 */
export function planUsers(config: CloudConfig, files: AccountFiles): FileOp[] {
  const passwdLines = files.passwd.split("\n").filter((line) => line !== "");
  const taken = new Set(passwdLines.map((line) => Number(line.split(":")[2])));
  const existing = new Set(passwdLines.map((line) => line.split(":")[0]));
  let groupLines = files.group.split("\n").filter((line) => line !== "");
  let newPasswd = "";
  const ops: FileOp[] = [];
  const sudoRules: string[] = [];
  for (const user of config.users) {
    if (user === "default") continue;
    const account = toAccount(user, nextFreeId(taken));
    // Like cloud-init, an existing user is not recreated, but still gets its keys.
    if (!existing.has(account.name)) {
      taken.add(account.uid);
      existing.add(account.name);
      newPasswd += `${account.name}:x:${account.uid}:${account.uid}:${account.gecos}:${account.home}:${account.shell}\n`;
      groupLines = addGroups(groupLines, account);
      ops.push({ kind: "mkdir", path: account.home, mode: "755" });
    }
    ops.push(...authorizedKeys(account.home, account.keys));
    for (const rule of account.sudo)
      sudoRules.push(`\n# User rules for ${account.name}\n${account.name} ${rule}\n`);
  }
  ops.unshift(
    { kind: "append", path: "/etc/passwd", mode: "644", content: newPasswd },
    { kind: "write", path: "/etc/group", mode: "644", content: `${groupLines.join("\n")}\n` },
  );
  if (sudoRules.length > 0) {
    const content = `# Created by cloud-init (simulated)\n${sudoRules.join("")}`;
    ops.push({ kind: "write", path: SUDOERS_FILE, mode: "440", content });
  }
  ops.push(...authorizedKeys("/root", config.ssh_authorized_keys));
  return ops;
}

function toAccount(user: CloudUser, uid: number): Account {
  const groups = typeof user.groups === "string" ? user.groups.split(",") : (user.groups ?? []);
  const sudo = user.sudo === undefined || user.sudo === null || user.sudo === false ? [] : [user.sudo].flat();
  return {
    name: user.name,
    uid,
    home: user.homedir ?? `/home/${user.name}`,
    shell: user.shell ?? "/bin/sh",
    gecos: user.gecos ?? "",
    groups: groups.map((group) => group.trim()).filter((group) => group !== ""),
    sudo,
    keys: user.ssh_authorized_keys ?? [],
  };
}

function nextFreeId(taken: Set<number>): number {
  let id = FIRST_REGULAR_ID;
  while (taken.has(id)) id++;
  return id;
}

/** Adds the user's own group and its memberships, creating missing groups as cloud-init does. */
function addGroups(lines: string[], account: Account): string[] {
  const result = [...lines, `${account.name}:x:${account.uid}:`];
  const gids = new Set(result.map((line) => Number(line.split(":")[2])));
  for (const group of account.groups) {
    const index = result.findIndex((line) => line.split(":")[0] === group);
    const line = result[index];
    if (line === undefined) {
      const gid = nextFreeId(gids);
      gids.add(gid);
      result.push(`${group}:x:${gid}:${account.name}`);
    } else {
      result[index] = line.endsWith(":") ? `${line}${account.name}` : `${line},${account.name}`;
    }
  }
  return result;
}

function authorizedKeys(home: string, keys: string[]): FileOp[] {
  if (keys.length === 0) return [];
  const content = `${keys.map((key) => key.trim()).join("\n")}\n`;
  return [
    { kind: "mkdir", path: `${home}/.ssh`, mode: "700" },
    { kind: "append", path: `${home}/.ssh/authorized_keys`, mode: "600", content },
  ];
}
