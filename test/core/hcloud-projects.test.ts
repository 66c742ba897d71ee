/** HCLOUD_PROJECTS: several Hetzner projects, each problem named; the single-project default unchanged. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../core/config.ts";
import { problemsOf, requiredEnv } from "./config-support.ts";

const dir = mkdtempSync(join(tmpdir(), "hcloud-projects-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The required variables with HCLOUD_PROJECTS instead of HCLOUD_TOKEN. */
function projectsEnv(projects: unknown, extra: Record<string, string> = {}): Record<string, string> {
  const { HCLOUD_TOKEN: _, ...env } = requiredEnv();
  return { ...env, HCLOUD_PROJECTS: JSON.stringify(projects), ...extra };
}

describe("Hetzner projects", () => {
  test("HCLOUD_TOKEN alone is the one project 'default' with the single-project settings", () => {
    const config = loadConfig({
      ...requiredEnv(),
      HCLOUD_SERVER_LIMIT: "10",
      PROVISION_LOCATIONS: "fsn1,hel1",
      SERVER_TYPE: "cx23",
      SERVER_TYPE_FALLBACKS: "cx33,cax11",
    });
    expect(config.hcloudProjects).toEqual([
      {
        name: "default",
        token: "hcloud-token-value",
        serverLimit: 10,
        locations: ["fsn1", "hel1"],
        serverTypes: ["cx23", "cx33", "cax11"],
        anyArchitecture: false,
      },
    ]);
  });

  test("parses a list, reading a token file and filling what a project omits from the defaults", () => {
    const tokenFile = join(dir, "eu-2");
    writeFileSync(tokenFile, "token-two\n");
    const config = loadConfig(
      projectsEnv(
        [
          { name: "eu-1", token: "token-one", serverLimit: 300, locations: ["nbg1"], serverTypes: ["cx33"] },
          { name: "eu-2", tokenFile, anyArchitecture: true },
        ],
        { PROVISION_LOCATIONS: "fsn1", SERVER_TYPE: "cax11" },
      ),
    );
    expect(config.hcloudProjects).toEqual([
      {
        name: "eu-1",
        token: "token-one",
        serverLimit: 300,
        locations: ["nbg1"],
        serverTypes: ["cx33"],
        anyArchitecture: false,
      },
      {
        name: "eu-2",
        token: "token-two",
        serverLimit: null,
        locations: ["fsn1"],
        serverTypes: ["cax11"],
        anyArchitecture: true,
      },
    ]);
    expect(Object.isFrozen(config.hcloudProjects[1])).toBe(true);
  });

  test("HCLOUD_PROJECTS_FILE holds the list, like any secret", () => {
    const path = join(dir, "projects.json");
    writeFileSync(path, JSON.stringify([{ name: "a", token: "t-a" }]));
    const { HCLOUD_PROJECTS: _, ...env } = projectsEnv([]);
    const config = loadConfig({ ...env, HCLOUD_PROJECTS_FILE: path });
    expect(config.hcloudProjects.map((p) => [p.name, p.token])).toEqual([["a", "t-a"]]);
  });

  test("names every problem in the list, and never a token", () => {
    const problems = problemsOf(
      projectsEnv([
        { name: "Eu_1", token: "secret-token-1", serverLimit: -1 },
        { name: "b", token: "secret-token-2", tokenFile: "/x", locations: [] },
        { name: "c", serverTypes: ["CX23"], limit: 3 },
      ]),
    );
    expect(problems).toEqual([
      "HCLOUD_PROJECTS[0].name: must be 1-63 lowercase letters, digits or '-'",
      "HCLOUD_PROJECTS[0].serverLimit: must be an integer 0-100000",
      "HCLOUD_PROJECTS[1].locations: must name at least one location",
      "HCLOUD_PROJECTS[2].serverTypes[0]: must be a lowercase Hetzner server type name",
      "HCLOUD_PROJECTS[2]: unknown field 'limit'",
    ]);
    expect(problems.join("\n")).not.toContain("secret-token");
  });

  test("a project needs exactly one token source, readable, and names and tokens are not repeated", () => {
    const problems = problemsOf(
      projectsEnv([
        { name: "a", token: "same" },
        { name: "a", token: "other" },
        { name: "b", token: "same" },
        { name: "c" },
        { name: "d", tokenFile: join(dir, "missing") },
      ]),
    );
    expect(problems).toEqual([
      "HCLOUD_PROJECTS[3]: set exactly one of token and tokenFile",
      `HCLOUD_PROJECTS[4].tokenFile: cannot read ${join(dir, "missing")}`,
      "HCLOUD_PROJECTS[1].name: repeats 'a'",
      "HCLOUD_PROJECTS[2]: has the token of 'a' (one project)",
    ]);
  });

  test("refuses what is not a non-empty JSON array, without quoting it", () => {
    expect(problemsOf({ ...projectsEnv([]), HCLOUD_PROJECTS: "[{name: secret" })).toEqual([
      "HCLOUD_PROJECTS: must be valid JSON",
    ]);
    expect(problemsOf(projectsEnv([]))).toEqual(["HCLOUD_PROJECTS: must list at least one project"]);
    expect(problemsOf(projectsEnv({ name: "a" }))).toEqual([
      "HCLOUD_PROJECTS: must be a JSON array of projects",
    ]);
  });

  test("HCLOUD_TOKEN is required without HCLOUD_PROJECTS; with it, the single-project variables must go", () => {
    const { HCLOUD_TOKEN: _, ...noToken } = requiredEnv();
    expect(problemsOf(noToken)).toEqual(["HCLOUD_TOKEN: required (or HCLOUD_PROJECTS)"]);
    const both = projectsEnv([{ name: "a", token: "t" }], { HCLOUD_TOKEN: "t2", HCLOUD_SERVER_LIMIT: "5" });
    expect(problemsOf(both)).toEqual([
      "HCLOUD_TOKEN: must be unset when HCLOUD_PROJECTS is set",
      "HCLOUD_SERVER_LIMIT: must be unset when HCLOUD_PROJECTS is set",
    ]);
  });
});
