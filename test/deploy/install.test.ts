/**
 * deploy/install.sh into a throwaway root (--root): the user, files, modes and settings it leaves, that a
 * second run changes nothing, and that an upgrade keeps the operator's edits and secrets and adds new settings.
 * A real systemd (starting, draining, restarting) is the real-machine issue's; here none runs as PID 1.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../../core/config.ts";
import { runCommand } from "../support/run-command.ts";

setDefaultTimeout(120_000);

const repoRoot = resolve(import.meta.dir, "../..");
const installScript = join(repoRoot, "deploy/install.sh");
const APP = "rachel-provisioner";
const canInstall =
  process.getuid?.() === 0 && Bun.which("useradd") !== null && Bun.which("systemctl") !== null;
// Root and useradd are what CI has; a developer's unprivileged run skips, CI must not.
const describeInstall = canInstall || process.env.CI === "true" ? describe : describe.skip;

const work = mkdtempSync(join(tmpdir(), "install-"));
const root = join(work, "root");
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh machine's account files and identity, as useradd --root needs them. */
function makeRoot(): void {
  mkdirSync(join(root, "etc"), { recursive: true });
  for (const file of ["passwd", "group", "shadow", "gshadow", "login.defs"]) {
    if (existsSync(`/etc/${file}`)) copyFileSync(`/etc/${file}`, join(root, "etc", file));
  }
  writeFileSync(join(root, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\n');
}

function install(...args: string[]) {
  return runCommand([installScript, "--root", root, "--bun", process.execPath, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME },
    timeoutMs: 110_000,
  });
}

const at = (path: string) => join(root, path);

/** Every path in the root but the installed code's dependencies, with type, mode, owner and content digest. */
function treeState(): string[] {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (path === at(`opt/${APP}/node_modules`)) continue;
      const stat = lstatSync(path);
      const relative = path.slice(root.length);
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isSymbolicLink()) lines.push(`${relative} -> ${readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        lines.push(`${relative}/ ${mode} ${stat.uid}:${stat.gid}`);
        walk(path);
      } else {
        const digest = createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16);
        lines.push(`${relative} ${mode} ${stat.uid}:${stat.gid} ${digest}`);
      }
    }
  };
  walk(root);
  return lines;
}

/** The env file as an environment, its secret paths pointing into the root. */
function installedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(at(`etc/${APP}/env`), "utf8").split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match?.[1]) continue;
    const value = match[2] ?? "";
    env[match[1]] = match[1].endsWith("_FILE") ? join(root, value) : value;
  }
  return env;
}

function modeOf(path: string): string {
  return (statSync(at(path)).mode & 0o7777).toString(8);
}

describeInstall("deploy/install.sh into a fresh root", () => {
  let firstOutput = "";
  let rachel: { uid: number; gid: number };

  beforeAll(async () => {
    makeRoot();
    const run = await install("--domain", "provisioner.example.com");
    firstOutput = run.stdout;
    if (run.exitCode !== 0)
      throw new Error(`install.sh failed (${run.exitCode}): ${run.stderr}\n${run.stdout}`);
    const entry = readFileSync(at("etc/passwd"), "utf8")
      .split("\n")
      .find((line) => line.startsWith("rachel:"));
    const [, , uid, gid, , home, shell] = (entry ?? "").split(":");
    expect({ home, shell }).toEqual({ home: `/var/lib/${APP}`, shell: "/usr/sbin/nologin" });
    rachel = { uid: Number(uid), gid: Number(gid) };
  });

  test("creates a system user, and the directories only it may enter", () => {
    expect(rachel.uid).toBeLessThan(1000);
    for (const dir of [`etc/${APP}/secrets`, `var/lib/${APP}`, `var/backups/${APP}`]) {
      expect(modeOf(dir)).toBe("700");
      expect(statSync(at(dir))).toMatchObject({ uid: rachel.uid, gid: rachel.gid });
    }
  });

  test("generates the secrets into files of mode 0600, read through *_FILE; the env file holds none", () => {
    const envText = readFileSync(at(`etc/${APP}/env`), "utf8");
    expect(modeOf(`etc/${APP}/env`)).toBe("600");
    expect(statSync(at(`etc/${APP}/env`)).uid).toBe(0);
    for (const name of ["broker_token", "secrets_key", "ops_token", "service_token", "hcloud_token"]) {
      const path = `etc/${APP}/secrets/${name}`;
      expect(modeOf(path)).toBe("600");
      expect(statSync(at(path))).toMatchObject({ uid: rachel.uid, gid: rachel.gid });
      const value = readFileSync(at(path), "utf8");
      if (name === "hcloud_token") expect(value).toBe("");
      else expect(envText).not.toContain(value);
    }
    expect(Buffer.from(readFileSync(at(`etc/${APP}/secrets/secrets_key`), "utf8"), "base64")).toHaveLength(
      32,
    );
    expect(envText).toMatch(
      /^# STRIPE_WEBHOOK_SECRET_FILE=\/etc\/rachel-provisioner\/secrets\/stripe_webhook_secret /m,
    );
  });

  test("the settings load once the operator adds the Hetzner token, with production paths and the domain", () => {
    writeFileSync(at(`etc/${APP}/secrets/hcloud_token`), "hcloud-token-from-the-operator\n");
    const config = loadConfig(installedEnv());
    expect(config.dataDir).toBe(`/var/lib/${APP}`);
    expect(config.backup.dir).toBe(`/var/backups/${APP}`);
    expect(config.publicBaseUrl).toBe("https://provisioner.example.com");
    expect(config.hcloudProjects.map((p) => p.token)).toEqual(["hcloud-token-from-the-operator"]);
    expect(config.opsToken).toBe(readFileSync(at(`etc/${APP}/secrets/ops_token`), "utf8"));
    writeFileSync(at(`etc/${APP}/secrets/hcloud_token`), "");
  });

  test("installs the code with its dependencies, the units enabled, and bun where the units expect it", () => {
    expect(readFileSync(at(`opt/${APP}/package.json`), "utf8")).toBe(
      readFileSync(join(repoRoot, "package.json"), "utf8"),
    );
    expect(existsSync(at(`opt/${APP}/node_modules/bunqueue/package.json`))).toBe(true);
    expect(existsSync(at(`opt/${APP}/node_modules/@biomejs`))).toBe(false);
    expect(statSync(at(`opt/${APP}/api/main.ts`)).uid).toBe(0);
    expect(readFileSync(at("usr/local/bin/bun")).equals(readFileSync(process.execPath))).toBe(true);
    for (const unit of readdirSync(join(repoRoot, "deploy/systemd"))) {
      expect(readFileSync(at(`etc/systemd/system/${unit}`), "utf8")).toBe(
        readFileSync(join(repoRoot, "deploy/systemd", unit), "utf8"),
      );
    }
    const wants = (target: string) => readdirSync(at(`etc/systemd/system/${target}.wants`)).sort();
    expect(wants("multi-user.target")).toEqual([
      "rachel-api.service",
      "rachel-broker.service",
      "rachel-worker.service",
    ]);
    expect(wants("timers.target")).toEqual(["rachel-backup.timer"]);
  });

  test("prints what the operator must still fill in", () => {
    expect(firstOutput).toContain("Still to fill in:");
    expect(firstOutput).toContain(`write it into /etc/${APP}/secrets/hcloud_token`);
    expect(firstOutput).toContain("STANDARD_WEBHOOK_SECRET_FILE and/or STRIPE_WEBHOOK_SECRET_FILE");
    expect(firstOutput).toContain("CONTROL_PLANE_IPS");
    expect(firstOutput).toContain("BACKUP_S3_*");
    expect(firstOutput).toContain("apart from the backups");
    // The domain was given, so it is not asked for.
    expect(firstOutput).not.toContain("the public domain");
  });

  test("a second run with the same release changes nothing", async () => {
    const before = treeState();
    const again = await install();
    expect(again.exitCode).toBe(0);
    expect(again.stdout).not.toContain("==> ");
    expect(treeState()).toEqual(before);
  });

  test("an upgrade from a tarball swaps the code, keeps edits and secrets, and appends new settings", async () => {
    const envPath = at(`etc/${APP}/env`);
    writeFileSync(envPath, readFileSync(envPath, "utf8").replace("LOG_LEVEL=info", "LOG_LEVEL=debug"));
    const secretsBefore = readFileSync(at(`etc/${APP}/secrets/secrets_key`));

    const release = join(work, "release", "rachel-provisioner-next");
    cpSync(at(`opt/${APP}`), release, {
      recursive: true,
      filter: (source) => !source.includes("/node_modules") && !source.endsWith("/.release"),
    });
    const example = readFileSync(join(release, ".env.example"), "utf8");
    writeFileSync(
      join(release, ".env.example"),
      `${example}\n# A setting the next release adds.\nNEXT_RELEASE_SETTING=on\n`,
    );
    // The next release terminates TLS with Caddy (deploy/Caddyfile).
    writeFileSync(
      join(release, "deploy/Caddyfile"),
      "{$PUBLIC_BASE_URL} {\n\treverse_proxy 127.0.0.1:8081\n}\n",
    );
    const tarball = join(work, "next.tar.gz");
    const packed = await runCommand([
      "tar",
      "-czf",
      tarball,
      "-C",
      join(work, "release"),
      "rachel-provisioner-next",
    ]);
    expect(packed.exitCode).toBe(0);

    const upgrade = await install("--from", tarball, "--acme-email", "ops@example.com");
    expect(upgrade.stderr).toBe("");
    expect(upgrade.exitCode).toBe(0);
    expect(upgrade.stdout).toContain(
      "adding new settings to /etc/rachel-provisioner/env: NEXT_RELEASE_SETTING",
    );
    const env = readFileSync(envPath, "utf8");
    expect(env).toContain("LOG_LEVEL=debug");
    expect(env).toMatch(/# A setting the next release adds\.\nNEXT_RELEASE_SETTING=on\n$/);
    expect(readFileSync(at(`etc/${APP}/secrets/secrets_key`)).equals(secretsBefore)).toBe(true);
    expect(readFileSync(at(`opt/${APP}/.env.example`), "utf8")).toContain("NEXT_RELEASE_SETTING=on");
    expect(existsSync(at(`opt/${APP}.previous/package.json`))).toBe(true);
    expect(existsSync(at(`opt/${APP}.new`))).toBe(false);
    expect(modeOf(`etc/${APP}/env`)).toBe("600");
    expect(readFileSync(at("etc/caddy/Caddyfile"), "utf8")).toContain("reverse_proxy 127.0.0.1:8081");
    expect(readFileSync(at(`etc/${APP}/caddy.env`), "utf8")).toContain("ACME_EMAIL=ops@example.com\n");
    expect(readFileSync(at(`etc/systemd/system/caddy.service.d/${APP}.conf`), "utf8")).toContain(
      `EnvironmentFile=/etc/${APP}/env\nEnvironmentFile=/etc/${APP}/caddy.env`,
    );
    expect(upgrade.stdout).not.toContain("ACME_EMAIL in");

    const after = treeState();
    expect((await install("--from", tarball)).stdout).not.toContain("==> ");
    expect(treeState()).toEqual(after);
    expect((await install("--from", tarball, "--acme-email", "ops@example.com")).stdout).not.toContain(
      "==> ",
    );
    expect(treeState()).toEqual(after);
  });

  const shellcheck = Bun.which("shellcheck");
  (shellcheck || process.env.CI === "true" ? test : test.skip)("install.sh passes shellcheck", async () => {
    if (!shellcheck) throw new Error("shellcheck is not installed (apt-get install shellcheck)");
    const checked = await runCommand([shellcheck, installScript]);
    expect(checked.stdout).toBe("");
    expect(checked.exitCode).toBe(0);
  });

  test("a wrong option or release is named", async () => {
    const unknown = await install("--frobnicate");
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain("unknown option --frobnicate");
    const notRelease = await install("--from", mkdtempSync(join(work, "not-a-release-")));
    expect(notRelease.exitCode).toBe(1);
    expect(notRelease.stderr).toContain("is not a rachel-provisioner release");
  });
});
