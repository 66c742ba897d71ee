/**
 * The real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in .ci/install-tools; 428 MB, so not a
 * package.json dependency) against the credentials file our injector writes: injected over a real sshd
 * into a throwaway user's home, then `claude auth status` run there, directly and through verify's own
 * check. It works offline: auth status reads the file and never asks the server. In CI its absence fails.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { CLAUDE_OAUTH_SCOPES, RACHEL8_PATHS, renderCredentials } from "../../domain/rachel8.ts";
import { type MachineFixture, startMachine } from "../../harness/remote/machine-fixture.ts";
import { sshdTestsEnabled } from "../../harness/support/sshd.ts";
import { checkClaudeLogin } from "../../remote/claude-login.ts";
import { isRemoteError } from "../../remote/errors.ts";
import { injectSecrets, type UnitFile } from "../../remote/inject.ts";
import { shellQuote } from "../../remote/shell-quote.ts";

/** The pinned release; .ci/install-tools installs it under /opt/claude-code. */
const CLAUDE_CODE_VERSION = "2.1.337";
const DEFAULT_BIN = "/opt/claude-code/node_modules/.bin/claude";

function realClaude(env: Readonly<Record<string, string | undefined>>): string | null {
  const bin = env.CLAUDE_CODE_BIN ?? DEFAULT_BIN;
  if (existsSync(bin)) return bin;
  const reason = `the real claude CLI is not at ${bin} (run .ci/install-tools, or set CLAUDE_CODE_BIN)`;
  if (env.CI === "true") throw new Error(`real Claude Code required in CI: ${reason}`);
  console.warn(`skipping real-claude tests: ${reason}`);
  return null;
}

const bin = realClaude(process.env);
const enabled = bin !== null && sshdTestsEnabled(process.env);

describe.skipIf(!enabled)(`the real claude ${CLAUDE_CODE_VERSION} on the credentials we write`, () => {
  let machine: MachineFixture;
  let unit: UnitFile;
  const claude = () => shellQuote(bin ?? "");

  beforeAll(async () => {
    machine = await startMachine();
    unit = {
      name: "rachel8.service",
      text: "[Service]\nExecStart=/bin/true\n",
      dir: machine.systemd.unitDir,
    };
    // Where Rachel8 looks for it (~/.local/bin), as the bundle will put it.
    const link = await machine.session.exec(
      `mkdir -p ~/.local/bin && ln -sf ${claude()} ~/.local/bin/claude`,
    );
    expect(link.code).toBe(0);
  });

  afterAll(async () => {
    await machine?.close();
  });

  async function inject(content: string): Promise<void> {
    await injectSecrets(machine.session, [{ path: RACHEL8_PATHS.credentials, content }], unit);
  }

  const ours = (overrides: Record<string, unknown> = {}) =>
    renderCredentials({
      accessToken: "sk-ant-oat01-real-cli-fixture-access",
      refreshToken: "sk-ant-ort01-real-cli-fixture-refresh",
      expiresAt: Date.now() + 3_600_000,
      scopes: [...CLAUDE_OAUTH_SCOPES],
      ...overrides,
    });

  test("it is the pinned release", async () => {
    const version = await machine.session.exec(`${claude()} --version`);
    expect(version.stdout.trim()).toBe(`${CLAUDE_CODE_VERSION} (Claude Code)`);
  });

  test("the file our injector writes is a claude.ai login (exit 0), and verify's check agrees", async () => {
    await inject(ours());
    const status = await machine.session.exec(`${claude()} auth status`);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      loggedIn: true,
      authMethod: "claude.ai",
      apiProvider: "firstParty",
      storedClaudeAiLogin: true,
    });
    const login = await checkClaudeLogin(machine.session, { credentialsPath: RACHEL8_PATHS.credentials });
    expect(login).toMatchObject({
      cliPath: `${machine.sshd.user.home}/.local/bin/claude`,
      authMethod: "claude.ai",
    });
  });

  test("expiry is not looked at: an expired token still says logged in, so verify checks it itself", async () => {
    const expired = JSON.parse(ours({ expiresAt: Date.now() - 60_000 }));
    await inject(ours({ expiresAt: Date.now() - 60_000 }));
    expect(JSON.parse((await machine.session.exec(`${claude()} auth status`)).stdout).loggedIn).toBe(true);
    delete expired.claudeAiOauth.refreshToken;
    await inject(`${JSON.stringify(expired)}\n`);
    const status = await machine.session.exec(`${claude()} auth status`);
    expect(JSON.parse(status.stdout)).toMatchObject({ loggedIn: true });
    const err = await checkClaudeLogin(machine.session, { credentialsPath: RACHEL8_PATHS.credentials }).catch(
      (e: unknown) => e,
    );
    expect(isRemoteError(err, "login_expired_no_refresh")).toBe(true);
  });

  test("without the inference scope it is logged out (exit 1), and verify fails as not_logged_in", async () => {
    await inject(
      `${JSON.stringify({ claudeAiOauth: { ...JSON.parse(ours()).claudeAiOauth, scopes: ["user:profile"] } })}\n`,
    );
    const status = await machine.session.exec(`${claude()} auth status`);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ loggedIn: false, authMethod: "none" });
    const err = await checkClaudeLogin(machine.session, { credentialsPath: RACHEL8_PATHS.credentials }).catch(
      (e: unknown) => e,
    );
    expect(isRemoteError(err, "not_logged_in")).toBe(true);
    expect((err as Error).message).toContain(
      "auth status says not logged in (exit 1, loggedIn false, authMethod none)",
    );
  });

  test("a CLI nowhere the app looks is cli_missing", async () => {
    expect((await machine.session.exec("rm ~/.local/bin/claude")).code).toBe(0);
    const err = await checkClaudeLogin(machine.session, { credentialsPath: RACHEL8_PATHS.credentials }).catch(
      (e: unknown) => e,
    );
    expect(isRemoteError(err, "cli_missing")).toBe(true);
  });
});
