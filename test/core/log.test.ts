import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { SECRET_VARIABLES } from "../../core/config-fields.ts";
import { createLogger, type LoggerOptions, REDACTED, SECRET_FIELD_NAMES } from "../../core/log.ts";

const dir = mkdtempSync(join(tmpdir(), "core-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A logger writing synchronously to a real file, and a way to read back what it wrote. */
function fileLogger(options: Omit<LoggerOptions, "destination"> = {}) {
  const path = join(dir, `log-${++files}.txt`);
  const destination = pino.destination({ dest: path, sync: true });
  const log = createLogger({ ...options, destination });
  return { log, read: () => readFileSync(path, "utf8") };
}

const secret = (label: string) => `SECRET-${label}-${crypto.randomUUID()}`;

test("secret fields are censored at top level and one or two levels deep", () => {
  const { log, read } = fileLogger({ name: "api" });
  const values = Object.fromEntries(SECRET_FIELD_NAMES.map((name) => [name, secret(name)]));
  log.info(values, "top level");
  log.info({ instance: values }, "one level");
  log.info({ job: { payload: values } }, "two levels");

  const text = read();
  for (const value of Object.values(values)) expect(text).not.toContain(value);
  const [top, one, two] = text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  for (const name of SECRET_FIELD_NAMES) {
    expect(top[name]).toBe(REDACTED);
    expect(one.instance[name]).toBe(REDACTED);
    expect(two.job.payload[name]).toBe(REDACTED);
  }
  expect(top.name).toBe("api");
});

test("secrets inside logged errors and request headers are censored; other fields survive", () => {
  const { log, read } = fileLogger();
  const token = secret("token");
  const bearer = `Bearer ${secret("auth")}`;
  const cookie = secret("cookie");
  const error = Object.assign(new Error("hetzner said no"), {
    code: "forbidden",
    token,
    request: { headers: { authorization: bearer } },
  });
  log.error({ err: error, instanceId: "i-1" }, "step failed");
  log.error(error, "error as the object");
  log.info({ req: { method: "GET", headers: { authorization: bearer, cookie, "set-cookie": cookie } } });
  log.info({ http: { req: { headers: { authorization: bearer, "x-api-key": token } } } }, "deep headers");

  const text = read();
  for (const value of [token, bearer, cookie]) expect(text).not.toContain(value);
  const [wrapped, direct, request, deep] = text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  expect(wrapped.err).toMatchObject({ message: "hetzner said no", code: "forbidden", token: REDACTED });
  expect(wrapped.err.request.headers.authorization).toBe(REDACTED);
  expect(wrapped.instanceId).toBe("i-1");
  expect(direct.err.token).toBe(REDACTED);
  expect(request.req.method).toBe("GET");
  expect(request.req.headers).toEqual({ authorization: REDACTED, cookie: REDACTED, "set-cookie": REDACTED });
  expect(deep.http.req.headers).toEqual({ authorization: REDACTED, "x-api-key": REDACTED });
});

test("secret fields bound to a child logger are censored on its every line", () => {
  const { log, read } = fileLogger({ name: "worker" });
  const token = secret("token");
  const privateKey = secret("privateKey");
  const child = log.child({ instanceId: "i-1", token, ssh: { privateKey } });
  child.info("first");
  child.child({ jobId: "j-1" }).warn("second");

  const text = read();
  expect(text).not.toContain(token);
  expect(text).not.toContain(privateKey);
  const lines = text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  expect(lines).toHaveLength(2);
  for (const line of lines)
    expect(line).toMatchObject({ instanceId: "i-1", token: REDACTED, ssh: { privateKey: REDACTED } });
  expect(lines[1].jobId).toBe("j-1");
});

test("lines below the configured level are not written", () => {
  const { log, read } = fileLogger({ level: "warn" });
  log.info("quiet");
  log.warn("loud");
  const lines = read().trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({ level: 40, msg: "loud" });
});

test("pretty output is human-readable and still censored", () => {
  const { log, read } = fileLogger({ pretty: true, name: "worker" });
  const token = secret("pretty");
  log.info({ token, job: { accessToken: token }, step: "create-server" }, "step done");
  const text = read();
  expect(text).toContain("step done");
  expect(text).toContain("create-server");
  expect(text).toContain(REDACTED);
  expect(text).not.toContain(token);
  expect(() => JSON.parse(text)).toThrow();
});

test("every secret configuration variable is redacted by its own name", () => {
  const redacted: readonly string[] = SECRET_FIELD_NAMES;
  expect(SECRET_VARIABLES.filter((name) => !redacted.includes(name))).toEqual([]);
});
