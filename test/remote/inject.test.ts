import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CLAUDE_OAUTH_SCOPES,
  RACHEL8_PATHS,
  RACHEL8_UNIT_NAME,
  rachel8Unit,
  renderCredentials,
  renderEnv,
} from "../../domain/rachel8.ts";
import { type MachineFixture, startMachine } from "../../harness/remote/machine-fixture.ts";
import { sshdTestsEnabled } from "../../harness/support/sshd.ts";
import { isRemoteError, type RemoteError } from "../../remote/errors.ts";
import { injectSecrets, type SecretFile, type UnitFile } from "../../remote/inject.ts";

const enabled = sshdTestsEnabled(process.env);
const TOKEN = "7654321098:AAF-fixture_Telegram_Token_0123456789xyz";
const NEW_TOKEN = "7654321098:AAF-rotated_Telegram_Token_987654321abc";
const ACCESS = "sk-ant-oat01-fixture-access-token-SECRET-0001";
const REFRESH = "sk-ant-ort01-fixture-refresh-token-SECRET-0002";
const SECRETS = [TOKEN, NEW_TOKEN, ACCESS, REFRESH];

describe.skipIf(!enabled)("injectSecrets against a real OpenSSH sshd", () => {
  let machine: MachineFixture;
  let home: string;
  let unit: UnitFile;
  const secretFiles = (token: string): SecretFile[] => [
    {
      path: RACHEL8_PATHS.credentials,
      content: renderCredentials({
        accessToken: ACCESS,
        refreshToken: REFRESH,
        expiresAt: 1_767_225_600_000,
        scopes: [...CLAUDE_OAUTH_SCOPES],
      }),
    },
    {
      path: RACHEL8_PATHS.env,
      content: renderEnv({
        telegramBotToken: token,
        ownerTelegramUserId: 42,
        sharedFolderPath: join(home, RACHEL8_PATHS.sharedDir),
        nodeEnv: "production",
        logLevel: "info",
        aiProvider: "claudecode",
      }),
    },
  ];
  const inHome = (path: string) => join(home, path);

  beforeAll(async () => {
    machine = await startMachine();
    home = machine.sshd.user.home;
    const text = rachel8Unit({ user: machine.sshd.user.name, home, release: `${home}/release` });
    unit = { name: RACHEL8_UNIT_NAME, text, dir: machine.systemd.unitDir };
  });

  afterAll(async () => {
    await machine?.close();
  });

  test("first run: files 0600 owned by the user, unit 0644 by root, reload+enable+start in ONE round trip", async () => {
    const execsBefore = machine.serverExecs();
    const result = await injectSecrets(machine.session, secretFiles(TOKEN), unit);

    expect(result).toEqual({
      changedFiles: [RACHEL8_PATHS.credentials, RACHEL8_PATHS.env],
      unitChanged: true,
      action: "started",
    });
    expect(machine.serverExecs() - execsBefore).toBe(1);
    for (const file of secretFiles(TOKEN)) {
      expect(readFileSync(inHome(file.path), "utf8")).toBe(file.content);
      const stat = statSync(inHome(file.path));
      expect(stat.mode & 0o777).toBe(0o600);
      expect([stat.uid, stat.gid]).toEqual([machine.sshd.user.uid, machine.sshd.user.gid]);
    }
    expect(statSync(inHome(".claude")).mode & 0o777).toBe(0o700);
    const unitPath = join(machine.systemd.unitDir, RACHEL8_UNIT_NAME);
    expect(readFileSync(unitPath, "utf8")).toBe(unit.text);
    expect(statSync(unitPath).mode & 0o777).toBe(0o644);
    expect(statSync(unitPath).uid).toBe(0);
    expect(machine.systemd.calls().slice(-2)).toEqual(["daemon-reload", `enable --now ${RACHEL8_UNIT_NAME}`]);
  });

  test("second run with the same content rewrites nothing (same inodes) and only starts the unit", async () => {
    const paths = [...secretFiles(TOKEN).map((file) => inHome(file.path)), join(unit.dir ?? "", unit.name)];
    const before = paths.map((path) => [statSync(path).ino, statSync(path).mtimeMs]);

    const result = await injectSecrets(machine.session, secretFiles(TOKEN), unit);

    expect(result).toEqual({ changedFiles: [], unitChanged: false, action: "started" });
    expect(paths.map((path) => [statSync(path).ino, statSync(path).mtimeMs])).toEqual(before);
    expect(machine.systemd.calls().slice(-2)).toEqual(["daemon-reload", `enable --now ${RACHEL8_UNIT_NAME}`]);
  });

  test("new content is swapped in by rename (new inode, never a partial file) and the unit restarted", async () => {
    const envPath = inHome(RACHEL8_PATHS.env);
    const oldContent = readFileSync(envPath, "utf8");
    const newFiles = secretFiles(NEW_TOKEN);
    const newContent = newFiles[1]?.content ?? "";
    const oldInode = statSync(envPath).ino;
    const seen = new Set<string>();
    const reader = setInterval(() => seen.add(readFileSync(envPath, "utf8")), 1);
    seen.add(readFileSync(envPath, "utf8"));
    const result = await injectSecrets(machine.session, newFiles, unit).finally(() => clearInterval(reader));
    seen.add(readFileSync(envPath, "utf8"));

    expect(result.changedFiles).toEqual([RACHEL8_PATHS.env]);
    expect(result.action).toBe("restarted");
    expect([...seen].every((content) => content === oldContent || content === newContent)).toBe(true);
    expect(readFileSync(envPath, "utf8")).toBe(newContent);
    expect(statSync(envPath).ino).not.toBe(oldInode);
    expect(statSync(envPath).mode & 0o777).toBe(0o600);
    const leftovers = [inHome("rachel8"), inHome(".claude"), home, unit.dir ?? ""].flatMap((dir) =>
      readdirSync(dir).filter((name) => name.includes("inject-tmp") || name.includes("restart-pending")),
    );
    expect(leftovers).toEqual([]);
  });

  test("a run cut off between swapping files and restarting is finished by the next run", async () => {
    // What inject.sh leaves when the connection drops after the rename: its restart-pending marker.
    const marker = inHome(`.${RACHEL8_UNIT_NAME}.restart-pending`);
    writeFileSync(marker, "");
    const result = await injectSecrets(machine.session, secretFiles(NEW_TOKEN), unit);
    expect(result).toEqual({ changedFiles: [], unitChanged: false, action: "restarted" });
    expect(existsSync(marker)).toBe(false);
  });

  test("secrets travel only on stdin: never in a command line, never in sshd's log", () => {
    expect(machine.sent.length).toBeGreaterThan(0);
    for (const { command, stdin } of machine.sent) {
      for (const secret of SECRETS) {
        expect(command).not.toContain(secret);
        expect(command).not.toContain(Buffer.from(secret).toString("base64").slice(0, 24));
      }
      expect(stdin.length).toBeGreaterThan(0);
    }
    const log = machine.sshd.log().join("\n");
    for (const secret of SECRETS) expect(log).not.toContain(secret);
  });

  test("a remote failure is inject_failed, not retryable, quoting stderr without any secret", async () => {
    const appDir = inHome(RACHEL8_PATHS.appDir);
    chmodSync(appDir, 0o500);
    try {
      const err = await injectSecrets(machine.session, secretFiles(TOKEN), unit).catch((e: unknown) => e);
      expect(isRemoteError(err, "inject_failed")).toBe(true);
      const failure = err as RemoteError;
      expect(failure.retryable).toBe(false);
      expect(failure.message).toContain("Permission denied");
      for (const secret of SECRETS) {
        expect(failure.message).not.toContain(secret);
        expect(String(failure.stack)).not.toContain(secret);
      }
    } finally {
      chmodSync(appDir, 0o755);
    }
    expect(readdirSync(appDir).filter((name) => name.includes("inject-tmp"))).toEqual([]);
  });

  test("unsafe paths and unit names are refused before anything is sent", async () => {
    const sentBefore = machine.sent.length;
    const attempts = [
      injectSecrets(machine.session, [{ path: "../escape", content: "x" }], unit),
      injectSecrets(machine.session, [{ path: "/etc/passwd", content: "x" }], unit),
      injectSecrets(machine.session, [{ path: "a b", content: "x" }], unit),
      injectSecrets(machine.session, secretFiles(TOKEN), { ...unit, name: "rachel8; reboot" }),
    ];
    for (const attempt of attempts) {
      const err = await attempt.catch((e: unknown) => e);
      expect(isRemoteError(err, "invalid_request")).toBe(true);
    }
    expect(machine.sent.length).toBe(sentBefore);
  });

  test("any content arrives byte for byte: backslashes, printf escapes, percent signs, newlines, UTF-8, NUL", async () => {
    const content = "a\\b \\c \\0101 %s %b\n\ttab\r\nnon-ASCII: é → 😀\u0000end\n\n";
    const file: SecretFile = { path: "escape-check/bytes.txt", content };
    await injectSecrets(machine.session, [file], unit);
    expect(readFileSync(inHome(file.path))).toEqual(Buffer.from(content));
    expect(statSync(inHome(file.path)).mode & 0o777).toBe(0o600);
  });
});
