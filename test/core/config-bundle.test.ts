import { describe, expect, test } from "bun:test";
import { type Config, loadConfig } from "../../core/config.ts";
import { problemsOf, requiredEnv } from "./config-support.ts";

describe("bundle settings", () => {
  test("default to pinned versions, the public npm registry and five kept bundles", () => {
    expect(loadConfig(requiredEnv())).toMatchObject({
      appRef: "main",
      bunVersion: "1.4.5",
      claudeCodeVersion: "2.1.337",
      npmRegistryUrl: "https://registry.npmjs.org",
      bundleKeep: 5,
    } satisfies Partial<Config>);
  });

  test("parse a local repository, a commit id, prerelease versions and a loopback registry", () => {
    const config = loadConfig({
      ...requiredEnv(),
      APP_REPO_URL: "file:///srv/rachel8.git",
      APP_REF: "4f1c2a9e0b7d3c5a6e8f9b0a1c2d3e4f5a6b7c8d",
      BUN_VERSION: "1.5.0-canary.3",
      CLAUDE_CODE_VERSION: "2.2.0",
      NPM_REGISTRY_URL: "http://127.0.0.1:4873/",
      BUNDLE_KEEP: "1",
    });
    expect(config).toMatchObject({
      appRepoUrl: "file:///srv/rachel8.git",
      appRef: "4f1c2a9e0b7d3c5a6e8f9b0a1c2d3e4f5a6b7c8d",
      bunVersion: "1.5.0-canary.3",
      claudeCodeVersion: "2.2.0",
      npmRegistryUrl: "http://127.0.0.1:4873",
      bundleKeep: 1,
    } satisfies Partial<Config>);
  });

  test("name every bad bundle setting", () => {
    expect(
      problemsOf({
        ...requiredEnv(),
        APP_REF: "--upload-pack=touch",
        BUN_VERSION: "^1.4.5",
        CLAUDE_CODE_VERSION: "latest",
        NPM_REGISTRY_URL: "ftp://registry.example.test",
        BUNDLE_KEEP: "0",
      }),
    ).toEqual([
      "APP_REF: must be a branch, tag or commit id (letters, digits, ./_-)",
      "BUN_VERSION: must be an exact version like 1.4.5",
      "CLAUDE_CODE_VERSION: must be an exact version like 1.4.5",
      "NPM_REGISTRY_URL: must be an http(s) URL without credentials or query",
      "BUNDLE_KEEP: must be an integer 1-1000",
    ]);
    expect(problemsOf({ ...requiredEnv(), APP_REF: "feature/../main" })).toEqual([
      "APP_REF: must be a branch, tag or commit id (letters, digits, ./_-)",
    ]);
  });
});
