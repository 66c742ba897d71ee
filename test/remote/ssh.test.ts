import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { sshdTestsEnabled, startSshd, type TestSshd } from "../../harness/support/sshd.ts";
import { HostKeyMismatchError, isRemoteError, RemoteError } from "../../remote/errors.ts";
import type { RemoteSession } from "../../remote/session.ts";
import { type ConnectPinnedOptions, connectPinned } from "../../remote/ssh.ts";
import { findFreePort } from "../../sim/free-port.ts";

const enabled = sshdTestsEnabled(process.env);

describe.skipIf(!enabled)("connectPinned against a real OpenSSH sshd", () => {
  let sshd: TestSshd;
  let session: RemoteSession;
  const options = (): ConnectPinnedOptions => ({
    host: sshd.host,
    port: sshd.port,
    username: sshd.user.name,
    privateKey: sshd.clientPrivateKey,
    expectedHostKey: sshd.hostKey,
    readyTimeoutMs: 10_000,
  });

  beforeAll(async () => {
    sshd = await startSshd();
    session = await connectPinned(options());
  });

  afterAll(async () => {
    await session?.close();
    await sshd?.stop();
  });

  test("exec passes stdin through and reports exit status and both streams", async () => {
    const result = await session.exec("tr a-z A-Z; echo oops >&2; exit 3", { stdin: "hello\n" });
    expect(result).toEqual({ code: 3, signal: null, stdout: "HELLO\n", stderr: "oops\n", truncated: false });
  });

  test("output beyond maxOutputBytes is dropped, not buffered", async () => {
    const result = await session.exec("head -c 1000000 /dev/zero | tr '\\0' x", { maxOutputBytes: 1000 });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("x".repeat(1000));
    expect(result.truncated).toBe(true);
  });

  test("a command past its deadline fails with a retryable exec_timeout, and the session stays usable", async () => {
    const err = await session.exec("sleep 30", { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isRemoteError(err, "exec_timeout")).toBe(true);
    expect((err as RemoteError).retryable).toBe(true);
    expect((await session.exec("echo still-here")).stdout).toBe("still-here\n");
  });

  test("a command past its deadline is also killed on the machine (OpenSSH would leave it running)", async () => {
    await session.exec("sleep 31", { timeoutMs: 200 }).catch(() => undefined);
    const deadline = Date.now() + 15_000;
    const stillRunning = async () => (await session.exec("pgrep -u \"$(id -u)\" -f 'slee[p] 31'")).code === 0;
    while ((await stillRunning()) && Date.now() < deadline) await Bun.sleep(100);
    expect(await stillRunning()).toBe(false);
  }, 20_000);

  test("an aborted exec rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const pending = session.exec("sleep 30", { signal: controller.signal });
    controller.abort(new Error("shutting down"));
    await expect(pending).rejects.toThrow("shutting down");
  });

  test("a connection that dies mid-command is connection_lost (retryable), and so is every later exec", async () => {
    const doomed = await connectPinned(options());
    try {
      // The command's grandparent is this connection's own sshd process (the login shell exec'd `timeout`).
      const err = await doomed.exec('kill -9 "$(ps -o ppid= -p "$PPID")"; sleep 5').catch((e: unknown) => e);
      expect(isRemoteError(err, "connection_lost")).toBe(true);
      expect((err as RemoteError).retryable).toBe(true);
      const later = await doomed.exec("true").catch((e: unknown) => e);
      expect(isRemoteError(later, "connection_lost")).toBe(true);
    } finally {
      await doomed.close();
    }
  });

  test("a different host key is refused before authentication: sshd sees no auth request and no session", async () => {
    // A fresh sshd, so its whole log belongs to this one connection.
    const fresh = await startSshd();
    try {
      const impostor = generateSshKeyPair("expected").publicKey;
      const err = await connectPinned({
        host: fresh.host,
        port: fresh.port,
        username: fresh.user.name,
        privateKey: fresh.clientPrivateKey,
        expectedHostKey: impostor,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostKeyMismatchError);
      const mismatch = err as HostKeyMismatchError;
      expect(mismatch.retryable).toBe(false);
      expect(mismatch.presentedFingerprint).toMatch(/^SHA256:/);
      expect(mismatch.presentedFingerprint).not.toBe(mismatch.expectedFingerprint);

      await fresh.waitForLog(/Disconnected from 127\.0\.0\.1 port \d+ \[preauth\]/);
      expect(fresh.log().some((line) => line.includes("SSH2_MSG_KEXINIT received"))).toBe(true);
      expect(fresh.log().filter((line) => /userauth|Accepted|Postponed|Starting session/.test(line))).toEqual(
        [],
      );
    } finally {
      await fresh.stop();
    }
  });

  test("a server with no ssh-ed25519 host key at all is refused as a host key mismatch", async () => {
    const rsaOnly = await startSshd({ hostKeyType: "rsa" });
    try {
      const err = await connectPinned({
        host: rsaOnly.host,
        port: rsaOnly.port,
        username: rsaOnly.user.name,
        privateKey: rsaOnly.clientPrivateKey,
        expectedHostKey: sshd.hostKey,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostKeyMismatchError);
      expect((err as HostKeyMismatchError).presentedFingerprint).toBeNull();
    } finally {
      await rsaOnly.stop();
    }
  });

  test("a key that is not authorized fails as auth_failed, not retryable", async () => {
    const stranger = generateSshKeyPair("stranger").privateKey;
    const err = await connectPinned({ ...options(), privateKey: stranger }).catch((e: unknown) => e);
    expect(isRemoteError(err, "auth_failed")).toBe(true);
    expect((err as RemoteError).retryable).toBe(false);
  });

  test("a malformed expected host key is rejected before any connection", async () => {
    await expect(
      connectPinned({ ...options(), expectedHostKey: "ssh-rsa AAAAB3NzaC1yc2E= x" }),
    ).rejects.toThrow(RemoteError);
    await expect(connectPinned({ ...options(), expectedHostKey: "ssh-ed25519 AAAA" })).rejects.toThrow(
      /well-formed ssh-ed25519/,
    );
  });
});

describe("connectPinned network failures", () => {
  const key = generateSshKeyPair("client");
  const base = {
    host: "127.0.0.1",
    username: "nobody",
    privateKey: key.privateKey,
    expectedHostKey: key.publicKey,
  };
  let silent: Server;
  let silentPort = 0;

  beforeAll(async () => {
    // Accepts TCP but never speaks SSH: a hung machine.
    silent = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    silentPort = typeof address === "object" && address ? address.port : 0;
  });

  afterAll(async () => {
    await new Promise((resolve) => silent.close(resolve));
  });

  test("nothing listening: connection_refused, retryable", async () => {
    const err = await connectPinned({ ...base, port: await findFreePort() }).catch((e: unknown) => e);
    expect(isRemoteError(err, "connection_refused")).toBe(true);
    expect((err as RemoteError).retryable).toBe(true);
  });

  test("no handshake within readyTimeoutMs: connect_timeout, retryable", async () => {
    const err = await connectPinned({ ...base, port: silentPort, readyTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(isRemoteError(err, "connect_timeout")).toBe(true);
    expect((err as RemoteError).retryable).toBe(true);
  });

  test("abort while connecting rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const pending = connectPinned({ ...base, port: silentPort, signal: controller.signal });
    controller.abort(new Error("lease lost"));
    await expect(pending).rejects.toThrow("lease lost");
  });
});
