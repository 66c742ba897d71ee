import { readInside, writeInside } from "../sandbox/files.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import type { CloudConfig, CloudUser } from "./config.ts";

/** First uid/gid cloud-init (useradd) hands out to regular users. */
const FIRST_REGULAR_ID = 1000;
/** Where cloud-init writes the `sudo:` rules of every user it creates. */
export const SUDOERS_FILE = "/etc/sudoers.d/90-cloud-init-users";

interface Account {
  name: string;
  uid: number;
  home: string;
  shell: string;
  groups: string[];
  sudo: string[];
}

/** Creates the config's users (passwd, group, home, authorized_keys, sudo rules) and root's keys. */
export async function createUsers(sandbox: Sandbox, config: CloudConfig): Promise<void> {
  const passwd = await readInside(sandbox, "/etc/passwd");
  const groups = await readInside(sandbox, "/etc/group");
  const taken = new Set(passwd.split("\n").map((line) => Number(line.split(":")[2])));
  const existing = new Set(passwd.split("\n").map((line) => line.split(":")[0]));
  let groupLines = groups.trimEnd().split("\n");
  let newPasswd = "";
  const sudoRules: string[] = [];
  for (const user of config.users) {
    if (user === "default") continue;
    const account = toAccount(user, nextFreeId(taken));
    if (!existing.has(account.name)) {
      taken.add(account.uid);
      existing.add(account.name);
      newPasswd += `${account.name}:x:${account.uid}:${account.uid}:${user.gecos ?? ""}:${account.home}:${account.shell}\n`;
      groupLines = addGroups(groupLines, account);
    }
    await installAuthorizedKeys(sandbox, account.home, user.ssh_authorized_keys ?? []);
    for (const rule of account.sudo)
      sudoRules.push(`\n# User rules for ${account.name}\n${account.name} ${rule}\n`);
  }
  if (newPasswd !== "") await writeInside(sandbox, "/etc/passwd", newPasswd, { append: true });
  await writeInside(sandbox, "/etc/group", `${groupLines.join("\n")}\n`);
  if (sudoRules.length > 0) {
    await writeInside(sandbox, SUDOERS_FILE, `# Created by cloud-init (simulated)\n${sudoRules.join("")}`, {
      mode: "440",
    });
  }
  if (config.ssh_authorized_keys.length > 0)
    await installAuthorizedKeys(sandbox, "/root", config.ssh_authorized_keys);
}

function toAccount(user: CloudUser, uid: number): Account {
  const groups = typeof user.groups === "string" ? user.groups.split(",") : (user.groups ?? []);
  const sudo = user.sudo === undefined || user.sudo === null || user.sudo === false ? [] : [user.sudo].flat();
  return {
    name: user.name,
    uid,
    home: user.homedir ?? `/home/${user.name}`,
    shell: user.shell ?? "/bin/sh",
    groups: groups.map((group) => group.trim()).filter((group) => group !== ""),
    sudo,
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

async function installAuthorizedKeys(sandbox: Sandbox, home: string, keys: string[]): Promise<void> {
  await sandbox.runOrThrow(`cannot create ${home}/.ssh`, [
    "install",
    "-d",
    "-m",
    "700",
    "--",
    `${home}/.ssh`,
  ]);
  if (keys.length === 0) return;
  const text = `${keys.map((key) => key.trim()).join("\n")}\n`;
  await writeInside(sandbox, `${home}/.ssh/authorized_keys`, text, { mode: "600", append: true });
}
