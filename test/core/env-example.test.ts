import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "../../core/config.ts";
import { SECRET_VARIABLES } from "../../core/config-fields.ts";

const example = readFileSync(resolve(import.meta.dir, "../../.env.example"), "utf8");

/** The NAME=value lines of the example, as an environment. */
function exampleEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of example.split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1] !== undefined) env[match[1]] = match[2] ?? "";
  }
  return env;
}

test(".env.example sets every variable the schema reads, and nothing else", () => {
  expect(Object.keys(exampleEnv()).sort()).toEqual([...CONFIG_VARIABLES].sort());
});

/** The comment lines directly above `NAME=`. */
function commentAbove(name: string): string {
  const lines = example.split("\n");
  const comment: string[] = [];
  for (let i = lines.findIndex((line) => line.startsWith(`${name}=`)) - 1; lines[i]?.startsWith("#"); i--) {
    comment.unshift(lines[i] ?? "");
  }
  return comment.join("\n");
}

test(".env.example marks every secret and names its _FILE variant", () => {
  for (const name of SECRET_VARIABLES) {
    expect(commentAbove(name)).toMatch(/\bSECRET\b/);
    expect(commentAbove(name)).toContain(`${name}_FILE`);
  }
  expect(commentAbove("API_PORT")).not.toMatch(/\bSECRET\b/);
});

test(".env.example leaves only the required secrets to fill in, and its defaults are the schema's", () => {
  let problems: readonly string[] = [];
  try {
    loadConfig(exampleEnv());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  expect(problems).toEqual([
    "BROKER_TOKEN: required",
    "SECRETS_KEY: required",
    "HCLOUD_TOKEN: required (or HCLOUD_PROJECTS)",
  ]);

  const secrets = {
    BROKER_TOKEN: "b",
    SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
    HCLOUD_TOKEN: "h",
  };
  const { secretsKeys: fromExampleKeys, ...fromExample } = loadConfig({ ...exampleEnv(), ...secrets });
  const { secretsKeys: defaultKeys, ...defaults } = loadConfig(secrets);
  expect(fromExample).toEqual(defaults);
  expect([...fromExampleKeys.keys.keys()]).toEqual([...defaultKeys.keys.keys()]);
});
