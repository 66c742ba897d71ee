/**
 * A stand-in customer machine for injection tests: a real sshd, a throwaway user whose home holds the app's
 * working directory and a release stand-in (~/release: a real Bun at bin/bun and an app/src/index.ts that
 * validates .env like Rachel8 and exits 1 on a bad token, printing it, as careless apps do; the unit runs it
 * with `release` set to it), fake systemd shims, and a pinned session
 * wrapped to record every command and stdin sent.
 */
import { chown, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ExecOptions, RemoteSession } from "../../remote/session.ts";
import { connectPinned } from "../../remote/ssh.ts";
import { startSshd, type TestSshd } from "../support/sshd.ts";
import { createFakeSystemd, type FakeSystemd } from "./fake-systemd.ts";

const STAND_IN_APP = `const token = process.env.TELEGRAM_BOT_TOKEN ?? "";
if (!/^\\d{8,}:[A-Za-z0-9_-]{35,}$/.test(token)) {
  console.error("invalid TELEGRAM_BOT_TOKEN: " + token);
  process.exit(1);
}
console.log("rachel8 stand-in up");
setInterval(() => undefined, 1 << 30);
`;

export interface SentCommand {
  command: string;
  stdin: string;
}

export interface MachineFixture {
  sshd: TestSshd;
  systemd: FakeSystemd;
  /** The pinned session, wrapped: every exec is recorded in `sent`. */
  session: RemoteSession;
  sent: SentCommand[];
  /** sshd's count of exec sessions so far (server-side round trips). */
  serverExecs(): number;
  close(): Promise<void>;
}

async function layOutHome(sshd: TestSshd): Promise<void> {
  const { home, uid, gid } = sshd.user;
  for (const dir of ["release", "release/bin", "release/app", "release/app/src", "rachel8", "shared"]) {
    await mkdir(join(home, dir), { mode: 0o755 });
    await chown(join(home, dir), uid, gid);
  }
  await symlink(process.execPath, join(home, "release/bin/bun"));
  await writeFile(join(home, "release/app/src/index.ts"), STAND_IN_APP, { mode: 0o644 });
}

function recording(session: RemoteSession, sent: SentCommand[]): RemoteSession {
  return {
    where: session.where,
    exec: (command: string, opts?: ExecOptions) => {
      sent.push({
        command,
        stdin: opts?.stdin === undefined ? "" : Buffer.from(opts.stdin).toString("utf8"),
      });
      return session.exec(command, opts);
    },
    close: () => session.close(),
  };
}

export async function startMachine(): Promise<MachineFixture> {
  const systemd = await createFakeSystemd();
  const sshd = await startSshd({ pathPrefix: [systemd.binDir] }).catch(async (err) => {
    await systemd.cleanup();
    throw err;
  });
  const close = async () => {
    await systemd.cleanup();
    await sshd.stop();
  };
  try {
    await layOutHome(sshd);
    const session = await connectPinned({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user.name,
      privateKey: sshd.clientPrivateKey,
      expectedHostKey: sshd.hostKey,
    });
    const sent: SentCommand[] = [];
    return {
      sshd,
      systemd,
      session: recording(session, sent),
      sent,
      serverExecs: () => sshd.log().filter((line) => line.startsWith("Starting session: command")).length,
      close: async () => {
        await session.close();
        await close();
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
