import { describe, expect, test } from "bun:test";
import { type Config, loadConfig } from "../../core/config.ts";
import { problemsOf, requiredEnv } from "./config-support.ts";

describe("provisioning settings", () => {
  test("default as documented; the public base URL follows the public listener's host and port", () => {
    expect(loadConfig({ ...requiredEnv(), PUBLIC_API_PORT: "9001" })).toMatchObject({
      apiHost: "127.0.0.1",
      apiPort: 8080,
      publicApiHost: "127.0.0.1",
      publicApiPort: 9001,
      trustedProxies: [],
      publicBaseUrl: "http://127.0.0.1:9001",
      controlPlaneIps: ["127.0.0.1/32"],
      provisionLocations: ["nbg1", "fsn1", "hel1"],
      serverType: "cx23",
      serverImage: "ubuntu-24.04",
      sshPort: 22,
      cloudInitTimeoutMs: 600_000,
      verifySettleMs: 10_000,
      appRepoUrl: "https://github.com/polly3223/Rachel8.git",
      expectedServerDeletionMs: 5_000,
      hcloudLabels: {},
      hcloudRefillPerSecond: 1,
    } satisfies Partial<Config>);
    expect(loadConfig({ ...requiredEnv(), PUBLIC_API_HOST: "::1" }).publicBaseUrl).toBe("http://[::1]:8081");
  });

  test("HCLOUD_REFILL_PER_SECOND paces a simulator's compressed budget, and only a simulator's", () => {
    const simulator = { HCLOUD_ENDPOINT: "http://127.0.0.1:4010/v1", HCLOUD_REFILL_PER_SECOND: "10" };
    expect(loadConfig({ ...requiredEnv(), ...simulator }).hcloudRefillPerSecond).toBe(10);
    expect(
      problemsOf({
        ...requiredEnv(),
        HCLOUD_ENDPOINT: "https://api.hetzner.cloud/v1",
        HCLOUD_REFILL_PER_SECOND: "10",
      }),
    ).toEqual([
      "HCLOUD_REFILL_PER_SECOND: must be 1 (Hetzner's refill) while HCLOUD_ENDPOINT is the real Hetzner API",
    ]);
    expect(problemsOf({ ...requiredEnv(), HCLOUD_REFILL_PER_SECOND: "0" })).toEqual([
      "HCLOUD_REFILL_PER_SECOND: must be an integer 1-3600",
    ]);
  });

  test("a plain http PUBLIC_BASE_URL off loopback is refused unless PUBLIC_BASE_URL_ALLOW_HTTP", () => {
    const message =
      "PUBLIC_BASE_URL: must be https (or set PUBLIC_BASE_URL_ALLOW_HTTP=true to accept plain http)";
    for (const url of [
      "http://provisioner.example.test",
      "http://203.0.113.7:8081",
      "http://[2001:db8::1]",
    ]) {
      expect(problemsOf({ ...requiredEnv(), PUBLIC_BASE_URL: url })).toEqual([message]);
      const allowed = loadConfig({
        ...requiredEnv(),
        PUBLIC_BASE_URL: url,
        PUBLIC_BASE_URL_ALLOW_HTTP: "true",
      });
      expect(allowed.publicBaseUrl).toBe(url);
    }
    // The public listener bound off loopback, with no PUBLIC_BASE_URL: the default is plain http there too.
    expect(problemsOf({ ...requiredEnv(), PUBLIC_API_HOST: "0.0.0.0" })).toEqual([message]);
    for (const url of [
      "https://provisioner.example.test",
      "http://127.0.0.1:8081",
      "http://[::1]:8081",
      "http://localhost",
    ]) {
      expect(loadConfig({ ...requiredEnv(), PUBLIC_BASE_URL: url }).publicBaseUrl).toBe(url);
    }
  });

  test("the two listeners may not share a port on one interface; trusted proxies parse as CIDR", () => {
    expect(problemsOf({ ...requiredEnv(), API_PORT: "9000", PUBLIC_API_PORT: "9000" })).toEqual([
      "PUBLIC_API_PORT: must differ from API_PORT",
    ]);
    expect(
      loadConfig({ ...requiredEnv(), PUBLIC_API_HOST: "127.0.0.2", PUBLIC_API_PORT: "8080" }).publicApiPort,
    ).toBe(8080);
    expect(
      loadConfig({ ...requiredEnv(), TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8,::1" }).trustedProxies,
    ).toEqual(["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
    expect(problemsOf({ ...requiredEnv(), TRUSTED_PROXIES: "127.0.0.1,proxy.example" })).toEqual([
      "TRUSTED_PROXIES: entry 2: must be an IP address or CIDR",
    ]);
  });

  test("parse every variable, normalizing addresses to CIDR blocks", () => {
    const config = loadConfig({
      ...requiredEnv(),
      PUBLIC_BASE_URL: "https://provisioner.example.test/",
      CONTROL_PLANE_IPS: "203.0.113.7, 198.51.100.0/24,2001:db8::1,2001:db8:1::/48",
      PROVISION_LOCATIONS: "hel1,nbg1",
      SERVER_TYPE: "cx33",
      SERVER_IMAGE: "debian-13",
      SSH_PORT: "2222",
      CLOUD_INIT_TIMEOUT_MS: "5000",
      VERIFY_SETTLE_MS: "0",
      APP_REPO_URL: "ssh://git@git.example.test/rachel8.git",
      EXPECTED_SERVER_DELETION_MS: "250",
    });
    expect(config).toMatchObject({
      publicBaseUrl: "https://provisioner.example.test",
      controlPlaneIps: ["203.0.113.7/32", "198.51.100.0/24", "2001:db8::1/128", "2001:db8:1::/48"],
      provisionLocations: ["hel1", "nbg1"],
      serverType: "cx33",
      serverImage: "debian-13",
      sshPort: 2222,
      cloudInitTimeoutMs: 5000,
      verifySettleMs: 0,
      appRepoUrl: "ssh://git@git.example.test/rachel8.git",
      expectedServerDeletionMs: 250,
    } satisfies Partial<Config>);
  });

  test("HCLOUD_LABELS parses key=value pairs and names each bad entry", () => {
    expect(
      loadConfig({ ...requiredEnv(), HCLOUD_LABELS: "env=staging, smoke-run=3f9c,example.com/team=" }),
    ).toMatchObject({ hcloudLabels: { env: "staging", "smoke-run": "3f9c", "example.com/team": "" } });
    expect(
      problemsOf({ ...requiredEnv(), HCLOUD_LABELS: "env,a=b=c,managed-by=me,x=1,x=2,bad key=v,k=v!" }),
    ).toEqual([
      "HCLOUD_LABELS: entry 1: must be key=value",
      "HCLOUD_LABELS: entry 2: must be key=value",
      "HCLOUD_LABELS: entry 3: 'managed-by' is set by the provisioner itself",
      "HCLOUD_LABELS: entry 5: repeats 'x'",
      "HCLOUD_LABELS: entry 6: is not a valid Hetzner label (letters, digits, '-', '_', '.'; at most 63 characters each side)",
      "HCLOUD_LABELS: entry 7: is not a valid Hetzner label (letters, digits, '-', '_', '.'; at most 63 characters each side)",
    ]);
  });

  test("report every invalid value by name and entry", () => {
    expect(
      problemsOf({
        ...requiredEnv(),
        PUBLIC_BASE_URL: "https://example.test/?token=x",
        CONTROL_PLANE_IPS: "10.0.0.1,10.0.0.0/33,not-an-ip,::1/129",
        PROVISION_LOCATIONS: "nbg1,,FSN1",
        SERVER_TYPE: "CX 23",
        SERVER_IMAGE: "debian-12",
        SSH_PORT: "0",
        CLOUD_INIT_TIMEOUT_MS: "0",
        VERIFY_SETTLE_MS: "-5",
        APP_REPO_URL: "https://user:pw@example.test/app.git",
      }),
    ).toEqual([
      "PUBLIC_BASE_URL: must be an http(s) URL without credentials or query",
      "CONTROL_PLANE_IPS: entry 2: must be an IP address or CIDR",
      "CONTROL_PLANE_IPS: entry 3: must be an IP address or CIDR",
      "CONTROL_PLANE_IPS: entry 4: must be an IP address or CIDR",
      "PROVISION_LOCATIONS: must be a comma list of lowercase Hetzner names",
      "SERVER_TYPE: must be a lowercase Hetzner name",
      "SERVER_IMAGE: must be one of ubuntu-24.04, debian-13",
      "SSH_PORT: must be an integer 1-65535",
      "CLOUD_INIT_TIMEOUT_MS: must be an integer 1-86400000",
      "VERIFY_SETTLE_MS: must be an integer 0-86400000",
      "APP_REPO_URL: must be an https, http, ssh, git or file URL without a password",
    ]);
  });
});
