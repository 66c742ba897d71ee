/**
 * A machineless server's answers to the provisioner's SSH commands (remote/), by what each asks rather
 * than by its text: the program it runs and that program's arguments, applied to the server's in-memory
 * state. Anything else is refused with exit 127, naming itself: the machineless kind serves the provision,
 * reconfigure and deprovision paths only (no upgrades, no shell).
 */
import { raceAbort, sleep } from "../../core/abort.ts";
import { decodePrintfB, splitWords, wordAfter } from "./shell-words.ts";
import { CLAUDE_CLI_PATH, type LoginAccount, type MachinelessState } from "./state.ts";

export interface CommandAnswer {
  code: number;
  stdout: string;
  stderr: string;
}

/** What remote/session.ts wraps every command in: coreutils timeout around `/bin/sh -c WORD`. */
const REMOTE_BOUND = /^exec timeout --kill-after=\d+ (\d+) \/bin\/sh -c ('[\s\S]*')$/;
/** coreutils timeout's exit status once it stopped the command. */
const TIMEOUT_EXIT = 124;

interface Command {
  script: string;
  stdin: Buffer;
  account: LoginAccount;
  state: MachinelessState;
  signal: AbortSignal;
}

/** Runs one exec request as `account`; honours the remote deadline the command carries, as `timeout` would. */
export async function answerCommand(
  state: MachinelessState,
  account: LoginAccount,
  line: string,
  stdin: Buffer,
  signal: AbortSignal,
): Promise<CommandAnswer> {
  const bound = REMOTE_BOUND.exec(line);
  const script = bound ? (splitWords(bound[2] ?? "")?.[0] ?? "") : line;
  const command = { script, stdin, account, state, signal };
  if (!bound) return answer(command);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), Number(bound[1]) * 1000);
  signal.addEventListener("abort", () => deadline.abort(), { once: true });
  try {
    return await answer({ ...command, signal: deadline.signal });
  } catch (error) {
    if (signal.aborted || !deadline.signal.aborted) throw error;
    return { code: TIMEOUT_EXIT, stdout: "", stderr: "" };
  } finally {
    clearTimeout(timer);
  }
}

function answer(command: Command): Promise<CommandAnswer> | CommandAnswer {
  const { script } = command;
  if (script.includes("cloud-init status")) return firstBootCheck(command);
  if (script.startsWith("set -- ") && script.includes("systemctl")) return inject(command);
  if (script.includes("auth status")) return claudeLogin(command);
  if (script.includes("systemctl is-active")) return unitChecks(command);
  if (script.includes("systemctl reset-failed")) return { code: 0, stdout: "", stderr: "" };
  if (script.startsWith('cat "$HOME"/')) return readHomeFile(command);
  const first = script.split("\n", 1)[0] ?? "";
  return {
    code: 127,
    stdout: "",
    stderr: `machineless server: no answer for '${first}' (it serves provision, reconfigure and deprovision only)\n`,
  };
}

/** first-boot.ts: `cloud-init status --wait`, then whether the setup marker it names exists. */
async function firstBootCheck({ script, state, signal }: Command): Promise<CommandAnswer> {
  const result = await raceAbort(state.bootResult, signal);
  const code = result === "done" ? 0 : 1;
  const markerPath = wordAfter(script, "[ -f ");
  const marker = markerPath === null ? undefined : state.files.get(markerPath);
  const completed = marker?.toString("utf8").split("\n", 1)[0] ?? "";
  const verdict = code === 0 && completed !== "" ? "ok" : "failed";
  const log = verdict === "ok" ? "" : "--- log\nmachineless server: no boot log\n";
  return { code: 0, stdout: `${verdict} ${code} ${completed}\nstatus: ${result}\n${log}`, stderr: "" };
}

/**
 * inject.sh: `set -- UNIT_DIR UNIT_NAME FILE…`, then one printf-%b line per file and one for the unit on
 * stdin. Writes what differs, installs the unit, starts it (restarts it when anything changed under an
 * installed one), and reports as the script does: "changed FILE", "unit-changed 0|1", "action …".
 */
function inject({ script, stdin, account, state }: Command): CommandAnswer {
  const [unitDir, unitName, ...paths] = splitWords(script.split("\n", 1)[0] ?? "")?.slice(2) ?? [];
  const lines = stdin.toString("utf8").split("\n");
  if (!unitDir || !unitName || paths.length === 0 || lines.length < paths.length + 1)
    return { code: 1, stdout: "", stderr: "inject: payload ended early\n" };
  const unitPath = `${unitDir}/${unitName}`;
  const installed = state.units.has(unitName);
  const out: string[] = [];
  let changed = false;
  paths.forEach((path, index) => {
    const content = decodePrintfB(lines[index] ?? "");
    const absolute = `${account.home}/${path}`;
    if (state.files.get(absolute)?.equals(content)) return;
    state.files.set(absolute, content);
    out.push(`changed ${path}`);
    changed = true;
  });
  const unitText = decodePrintfB(lines[paths.length] ?? "");
  const unitChanged = !state.files.get(unitPath)?.equals(unitText);
  state.files.set(unitPath, unitText);
  const restart = installed && (changed || unitChanged);
  state.units.set(unitName, { text: unitText, active: true });
  out.push(`unit-changed ${unitChanged ? 1 : 0}`, `action ${restart ? "restarted" : "started"}`);
  return { code: 0, stdout: `${out.join("\n")}\n`, stderr: "" };
}

/**
 * claude-login.ts: where the CLI is, `claude auth status` (logged in when the credentials file holds a
 * claudeAiOauth access token with the user:inference scope, as the stand-in CLI decides), then the file.
 */
function claudeLogin({ script, account, state }: Command): CommandAnswer {
  if (!state.claudeCli) return { code: 0, stdout: "cli-missing\n--- credentials\n", stderr: "" };
  const credentialsPath = wordAfter(script, 'cat "$HOME"/');
  const credentials =
    credentialsPath === null ? undefined : state.files.get(`${account.home}/${credentialsPath}`);
  const loggedIn = credentials !== undefined && holdsLogin(credentials.toString("utf8"));
  const status = JSON.stringify({ loggedIn, authMethod: loggedIn ? "claude.ai" : "none" }, null, 2);
  const stdout = [
    `cli ${CLAUDE_CLI_PATH}`,
    `auth-exit ${loggedIn ? 0 : 1}`,
    status,
    "--- credentials",
    credentials?.toString("utf8") ?? "",
  ].join("\n");
  return { code: 0, stdout, stderr: "" };
}

function holdsLogin(text: string): boolean {
  try {
    const oauth = (JSON.parse(text) as { claudeAiOauth?: { accessToken?: unknown; scopes?: unknown } })
      .claudeAiOauth;
    const scopes = oauth?.scopes;
    return (
      typeof oauth?.accessToken === "string" &&
      oauth.accessToken !== "" &&
      Array.isArray(scopes) &&
      scopes.includes("user:inference")
    );
  } catch {
    return false;
  }
}

/**
 * verify.ts: `systemctl is-active UNIT` now and after each pause of `for pause in …`: the pauses are
 * slept (the settle is a wait by design), and the unit, nothing crashing it here, is active if started.
 */
async function unitChecks({ script, state, signal }: Command): Promise<CommandAnswer> {
  const unit = wordAfter(script, "systemctl is-active ") ?? "";
  const pauses = /for pause in ([\d. ]*);/.exec(script)?.[1]?.trim().split(/\s+/) ?? [];
  const settleMs = pauses.reduce((sum, pause) => sum + Number(pause) * 1000, 0);
  if (!state.units.get(unit)?.active) {
    const notActive = /exit (\d+)\n\}/.exec(script)?.[1] ?? "3";
    return { code: Number(notActive), stdout: "inactive\n-- No entries --\n", stderr: "" };
  }
  await sleep(settleMs, signal);
  return { code: 0, stdout: "", stderr: "" };
}

/** readClaudeCredentials: `cat "$HOME"/FILE`. */
function readHomeFile({ script, account, state }: Command): CommandAnswer {
  const path = wordAfter(script, 'cat "$HOME"/');
  const content = path === null ? undefined : state.files.get(`${account.home}/${path}`);
  if (content === undefined)
    return { code: 1, stdout: "", stderr: `cat: ${account.home}/${path}: No such file or directory\n` };
  return { code: 0, stdout: content.toString("utf8"), stderr: "" };
}
