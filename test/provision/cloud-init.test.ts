import { describe, expect, test } from "bun:test";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { parse, stringify } from "yaml";
import { serializeCloudConfig } from "../../jobs/provision/cloud-init/cloud-config.ts";
import {
  buildCloudConfig,
  buildUserData,
  type CloudConfig,
  InvalidUserDataInputError,
  USER_DATA_MAX_BYTES,
  type UserDataInput,
  UserDataTooLargeError,
} from "../../jobs/provision/cloud-init.ts";
import {
  CLOUD_INIT_INSTALL_HINT,
  checkSchema,
  findCloudInit,
  loadAsCloudInit,
  runcmdScript,
} from "../support/cloud-init-schema.ts";

/**
 * The OpenSSH blob of a fresh ed25519 key, built from node:crypto: ssh2's generateKeyPairSync strips
 * leading zero bytes from the key, so 1 key in 256 comes out malformed (31 bytes).
 */
function ed25519KeyBlob(): string {
  const rawKey = Buffer.from(
    generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x ?? "",
    "base64url",
  );
  const lengthPrefixed = (part: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(part.length);
    return [length, part];
  };
  return Buffer.concat([...lengthPrefixed(Buffer.from("ssh-ed25519")), ...lengthPrefixed(rawKey)]).toString(
    "base64",
  );
}

function callbackUrl(instanceId: string, token: string): string {
  return `https://provisioner.example.com/v1/cloud-init/${instanceId}/ready?token=${token}`;
}

const BUNDLE_ID = "ab".repeat(32);

/** A provision's input as the service makes it: a real key, fresh 32-byte base64url tokens, a bundle. */
function typicalInput(instanceId = "inst-01hzx4") {
  const token = randomBytes(32).toString("base64url");
  const bundleToken = randomBytes(32).toString("base64url");
  const input: UserDataInput = {
    instanceId,
    username: "rachel",
    authorizedKey: `ssh-ed25519 ${ed25519KeyBlob()} rachel-provisioner@${instanceId}`,
    callbackUrl: callbackUrl(instanceId, token),
    bundle: {
      url: `https://provisioner.example.com/v1/instances/${instanceId}/bundles/${BUNDLE_ID}`,
      sha256: BUNDLE_ID,
      token: bundleToken,
    },
  };
  return { input, token, bundleToken };
}

/** Inputs full of YAML syntax, and values PyYAML (YAML 1.1) would read as a boolean or a number. */
function trickyInput(): UserDataInput {
  return {
    ...typicalInput("0755").input,
    username: "yes",
    authorizedKey: `ssh-ed25519 ${ed25519KeyBlob()} it's: a "key" # with: spaces, [x] {y} &a *b !c %d @e é`,
  };
}

/** Every string in the document with its path, e.g. "phone_home.url". */
function stringLeaves(node: unknown, path = ""): Array<[string, string]> {
  if (typeof node === "string") return [[path, node]];
  if (node === null || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([key, value]) => stringLeaves(value, path ? `${path}.${key}` : key));
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

// Compile-time guard: the input type has exactly these fields, so no secret can be handed in.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const inputFieldsAreThePublicOnes: Same<
  keyof UserDataInput,
  "instanceId" | "username" | "authorizedKey" | "callbackUrl" | "bundle"
> = true;

describe("buildUserData", () => {
  test("is a #cloud-config document that parses back to the typed object, the same every time", () => {
    const { input } = typicalInput();
    const text = buildUserData(input);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    expect(parse(text, { version: "1.1" })).toEqual(buildCloudConfig(input));
    expect(buildUserData(input)).toBe(text);
  });

  test("sets up the user, the boot from the bundle and phone_home, and enables no unit", () => {
    const { input } = typicalInput();
    const config = parse(buildUserData(input), { version: "1.1" }) as CloudConfig;
    expect(config.users).toEqual([
      {
        name: "rachel",
        groups: ["sudo"],
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        shell: "/bin/bash",
        lock_passwd: true,
        ssh_authorized_keys: [input.authorizedKey],
      },
    ]);
    expect(config.runcmd).toHaveLength(1);
    const script = config.write_files.find((file) => file.path.endsWith("/boot-from-bundle.sh"));
    expect(script?.permissions).toBe("0755");
    expect(config.runcmd[0]?.[1]).toBe(script?.path);
    expect(config.phone_home).toEqual({
      url: input.callbackUrl,
      post: ["pub_key_ed25519", "instance_id", "hostname"],
      tries: 10,
    });
    const everything = JSON.stringify(config);
    expect(everything).not.toContain("systemctl");
    expect(everything).not.toContain("/etc/systemd");
  });

  test("escapes YAML syntax and YAML 1.1 look-alikes in every input", () => {
    const input = trickyInput();
    expect(parse(buildUserData(input), { version: "1.1" })).toEqual(buildCloudConfig(input));
  });

  test("puts the callback token in the phone_home URL and nowhere else", () => {
    const { input, token } = typicalInput();
    const text = buildUserData(input);
    expect(occurrences(text, token)).toBe(1);
    const holders = stringLeaves(parse(text)).filter(([, value]) => value.includes(token));
    expect(holders.map(([path]) => path)).toEqual(["phone_home.url"]);
  });

  test("varies only in the inputs it was given", () => {
    const placeholders = (input: UserDataInput, text: string) =>
      [input.callbackUrl, input.authorizedKey, input.bundle.token, input.instanceId].reduce(
        (out, value, index) => out.replaceAll(value, `<input ${index}>`),
        text,
      );
    const first = typicalInput("inst-aaaa").input;
    const second = typicalInput("inst-bbbb").input;
    expect(inputFieldsAreThePublicOnes).toBe(true);
    expect(placeholders(first, buildUserData(first))).toBe(placeholders(second, buildUserData(second)));
  });

  test("measures the limit in UTF-8 bytes and names the size when over it", () => {
    const { input } = typicalInput();
    const keyPrefix = `ssh-ed25519 ${ed25519KeyBlob()} `;
    const baseBytes = Buffer.byteLength(buildUserData({ ...input, authorizedKey: `${keyPrefix}c` }), "utf8");
    const atLimit = `${keyPrefix}c${"x".repeat(USER_DATA_MAX_BYTES - baseBytes)}`;
    expect(Buffer.byteLength(buildUserData({ ...input, authorizedKey: atLimit }), "utf8")).toBe(
      USER_DATA_MAX_BYTES,
    );
    expect(() => buildUserData({ ...input, authorizedKey: `${atLimit}x` })).toThrow(UserDataTooLargeError);

    // Two bytes per "é": under the limit in characters, over it in bytes.
    const wide = { ...input, authorizedKey: `${keyPrefix}${"é".repeat(17_000)}` };
    expect(serializeCloudConfig(buildCloudConfig(wide)).length).toBeLessThan(USER_DATA_MAX_BYTES);
    const error = catchError(() => buildUserData(wide));
    expect(error).toBeInstanceOf(UserDataTooLargeError);
    const { sizeBytes } = error as UserDataTooLargeError;
    expect(sizeBytes).toBeGreaterThan(USER_DATA_MAX_BYTES);
    expect((error as Error).message).toContain(`${sizeBytes} bytes`);
  });

  test.each([
    ["callbackUrl", { callbackUrl: callbackUrl("inst-other", "t0ken-value") }],
    ["callbackUrl", { callbackUrl: "https://provisioner.example.com/v1/cloud-init/inst-01hzx4/ready" }],
    ["callbackUrl", { callbackUrl: callbackUrl("inst-01hzx4", "t0ken$value") }],
    [
      "callbackUrl",
      { callbackUrl: "ftp://provisioner.example.com/v1/cloud-init/inst-01hzx4/ready?token=t0ken" },
    ],
    ["authorizedKey", { authorizedKey: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ t0ken-value" }],
    [
      "authorizedKey",
      { authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAH9By3JpGs6bQLbO/ZnduiJxP1k0BglMaoMPYnO18Zag=" },
    ],
    [
      "authorizedKey",
      { authorizedKey: `ssh-ed25519 ${ed25519KeyBlob()} a\nssh-ed25519 ${ed25519KeyBlob()} b` },
    ],
    ["username", { username: "root" }],
    ["instanceId", { instanceId: "inst 01" }],
  ] as Array<[string, Partial<UserDataInput>]>)("rejects a bad %s without echoing it", (field, change) => {
    const error = catchError(() => buildUserData({ ...typicalInput().input, ...change }));
    expect(error).toBeInstanceOf(InvalidUserDataInputError);
    expect((error as InvalidUserDataInputError).field).toBe(field);
    expect((error as Error).message).not.toContain("t0ken");
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

const cloudInit = findCloudInit();
const inCi = process.env.CI === "true";
if (!cloudInit && !inCi) console.warn(`skipping the cloud-init schema tests: ${CLOUD_INIT_INSTALL_HINT}`);

/** In CI a missing cloud-init fails the tests rather than skipping them. */
function requireCloudInit() {
  if (!cloudInit) throw new Error(CLOUD_INIT_INSTALL_HINT);
  return cloudInit;
}

describe.skipIf(!cloudInit && !inCi)("user-data checked by the real cloud-init", () => {
  test("a typical document is valid with no deprecated keys", async () => {
    const { input } = typicalInput();
    const text = buildUserData(input);
    const report = await checkSchema(requireCloudInit(), text);
    console.info(
      `cloud-init ${requireCloudInit().version}: typical user-data is ${Buffer.byteLength(text)} bytes`,
    );
    expect(report.output).toContain("Valid schema");
    expect(report.exitCode).toBe(0);
    expect(report.hasDeprecations).toBe(false);
  });

  test("inputs full of YAML syntax validate and load in cloud-init exactly as built", async () => {
    const input = trickyInput();
    const text = buildUserData(input);
    expect((await checkSchema(requireCloudInit(), text)).exitCode).toBe(0);
    expect(await loadAsCloudInit(requireCloudInit(), text)).toEqual(buildCloudConfig(input));
  });

  test("runcmd's shell script hands boot-from-bundle.sh exactly the built arguments", async () => {
    const input = trickyInput();
    const [command = []] = buildCloudConfig(input).runcmd;
    const script = await runcmdScript(requireCloudInit(), buildUserData(input));
    // printf in place of the interpreter shows the argument vector the shell would have run.
    const probe = script.replace("'/bin/sh' ", "'printf' '%s\\n' ");
    expect(probe).not.toBe(script);
    const shown = Bun.spawnSync(["/bin/sh", "-c", probe]).stdout.toString();
    expect(shown).toBe(
      command
        .slice(1)
        .map((arg) => `${arg}\n`)
        .join(""),
    );
  });

  test("a document with a wrongly typed key is rejected, naming the key", async () => {
    const config = { ...buildCloudConfig(typicalInput().input), packages: "git curl" };
    const invalid = `#cloud-config\n${stringify(config)}`;
    const report = await checkSchema(requireCloudInit(), invalid);
    expect(report.exitCode).toBe(1);
    expect(report.output).toContain("packages");
  });

  // Debian 12's cloud-init 22.4 accepts unknown top-level keys; 23.4 and later reject them.
  const [major = 99, minor = 0] = (cloudInit?.version ?? "").split(".").map(Number);
  test.skipIf(major < 23 || (major === 23 && minor < 4))("a misspelt top-level key is rejected", async () => {
    const { runcmd, ...config } = buildCloudConfig(typicalInput().input);
    const misspelt = `#cloud-config\n${stringify({ ...config, run_cmd: runcmd })}`;
    const report = await checkSchema(requireCloudInit(), misspelt);
    expect(report.exitCode).toBe(1);
    expect(report.output).toContain("run_cmd");
  });
});

describe("user-data that boots from a bundle", () => {
  const bundleId = BUNDLE_ID;
  const withBundle = typicalInput;

  test("installs no package and names no host but the control plane", () => {
    const { input } = withBundle();
    const config = buildCloudConfig(input);
    expect(Object.keys(config)).not.toContain("packages");
    expect(Object.keys(config)).not.toContain("package_update");
    const text = buildUserData(input);
    const hosts = new Set([...text.matchAll(/[a-z]+:\/\/([^/\s"']+)/g)].map((match) => match[1]));
    expect([...hosts]).toEqual(["provisioner.example.com"]);
    expect(text).not.toContain("apt-get");
    expect(text).not.toContain("git ");
    expect(Buffer.byteLength(text)).toBeLessThan(USER_DATA_MAX_BYTES / 4);
    expect(config.runcmd).toEqual([
      [
        "/bin/sh",
        "/usr/local/lib/rachel-provisioner/boot-from-bundle.sh",
        "rachel",
        input.bundle.url,
        bundleId,
        "/run/rachel-provisioner/bundle-auth",
        "/opt/rachel8",
        "/var/lib/rachel-provisioner/setup-complete",
      ],
    ]);
  });

  test("the grant's token travels only in a root-only header file, never in argv or the URL", () => {
    const { input, bundleToken } = withBundle();
    const config = buildCloudConfig(input);
    const holders = stringLeaves(config).filter(([, value]) => value.includes(bundleToken));
    expect(holders.map(([path]) => path)).toEqual(["write_files.1.content"]);
    expect(config.write_files[1]).toMatchObject({
      path: "/run/rachel-provisioner/bundle-auth",
      owner: "root:root",
      permissions: "0600",
    });
  });

  test.each([
    ["sha256", { sha256: "AB".repeat(32) }, "bundle.sha256 must be 64 lowercase hex digits"],
    ["token", { token: "a b" }, "bundle.token must be 16-256 base64url characters"],
    ["url", { url: "file:///etc/passwd" }, "bundle.url must be an absolute http or https URL"],
    [
      "url's bundle",
      { url: `https://provisioner.example.com/v1/instances/x/bundles/${"cd".repeat(32)}` },
      "bundle.url must name the bundle by its sha256 and carry no credentials, query or fragment",
    ],
  ] as const)("a bad %s is named", (_name, change, message) => {
    const { input } = withBundle();
    expect(() => buildUserData({ ...input, bundle: { ...input.bundle, ...change } })).toThrow(
      new InvalidUserDataInputError("", "").constructor as never,
    );
    expect(() => buildUserData({ ...input, bundle: { ...input.bundle, ...change } })).toThrow(
      `user-data input ${message}`,
    );
  });

  test.skipIf(!cloudInit && !inCi)("is valid for the real cloud-init, with no deprecated keys", async () => {
    const report = await checkSchema(requireCloudInit(), buildUserData(withBundle().input));
    expect(report.output).toContain("Valid schema");
    expect(report.exitCode).toBe(0);
    expect(report.hasDeprecations).toBe(false);
  });
});
