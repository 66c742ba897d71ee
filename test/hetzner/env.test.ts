import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultHetznerEndpoint, HetznerConfigError, hetznerOptionsFromEnv } from "../../hetzner/index.ts";

const dir = mkdtempSync(join(tmpdir(), "hetzner-env-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("hetznerOptionsFromEnv", () => {
  test("reads HCLOUD_TOKEN and defaults the endpoint to the real API", () => {
    expect(hetznerOptionsFromEnv({ HCLOUD_TOKEN: "abc" })).toEqual({
      endpoint: defaultHetznerEndpoint,
      token: "abc",
    });
  });

  test("reads the token from HCLOUD_TOKEN_FILE, trimmed", () => {
    const file = join(dir, "token");
    writeFileSync(file, "from-file\n");
    expect(hetznerOptionsFromEnv({ HCLOUD_TOKEN_FILE: file }).token).toBe("from-file");
  });

  test("takes HCLOUD_ENDPOINT without its trailing slash", () => {
    const env = { HCLOUD_TOKEN: "abc", HCLOUD_ENDPOINT: "http://127.0.0.1:4010/v1/" };
    expect(hetznerOptionsFromEnv(env).endpoint).toBe("http://127.0.0.1:4010/v1");
  });

  test.each([
    [{}, "HCLOUD_TOKEN"],
    [{ HCLOUD_TOKEN: "  " }, "HCLOUD_TOKEN"],
    [{ HCLOUD_TOKEN: "a", HCLOUD_TOKEN_FILE: "/x" }, "not both"],
    [{ HCLOUD_TOKEN_FILE: "/nonexistent/token" }, "HCLOUD_TOKEN_FILE"],
    [{ HCLOUD_TOKEN: "a", HCLOUD_ENDPOINT: "not a url" }, "HCLOUD_ENDPOINT"],
    [{ HCLOUD_TOKEN: "a", HCLOUD_ENDPOINT: "ftp://x/v1" }, "HCLOUD_ENDPOINT"],
  ])("%j fails naming %s", (env, named) => {
    expect(() => hetznerOptionsFromEnv(env as Record<string, string>)).toThrow(HetznerConfigError);
    expect(() => hetznerOptionsFromEnv(env as Record<string, string>)).toThrow(named);
  });

  test("an empty token file is an error that does not echo its content", () => {
    const file = join(dir, "empty");
    writeFileSync(file, "\n");
    expect(() => hetznerOptionsFromEnv({ HCLOUD_TOKEN_FILE: file })).toThrow("is empty");
  });
});
