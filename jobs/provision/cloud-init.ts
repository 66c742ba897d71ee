/**
 * Builds the cloud-init user-data a new server boots with: the app's user with passwordless sudo and the
 * control plane's key, then either the app bundle fetched from the control plane (`bundle`: no package
 * installs, no other host) or, without one, base packages, Bun, the app checkout and its dependencies; the
 * shared folder, and a phone_home that reports the server's host key to the callback URL. No secret: Hetzner
 * stores user-data and every process on the server can read it; secrets follow over SSH, and so does the
 * systemd unit (the app must not start before its .env exists).
 */
import { type BundleBoot, bundleBootCommand, bundleBootFiles } from "./cloud-init/bundle-boot.ts";
import { type CloudConfig, serializeCloudConfig } from "./cloud-init/cloud-config.ts";
import { UserDataTooLargeError } from "./cloud-init/errors.ts";
import { FIRST_BOOT_FILES, firstBootCommand, SETUP_COMPLETE_MARKER } from "./cloud-init/first-boot.ts";
import {
  checkAppRef,
  checkAppRepoUrl,
  checkAuthorizedKey,
  checkBunVersion,
  checkCallbackUrl,
  checkInstanceId,
  checkUsername,
} from "./cloud-init/input-rules.ts";

export { APP_ROOT, type BundleBoot, CURRENT_RELEASE } from "./cloud-init/bundle-boot.ts";
export type { CloudConfig } from "./cloud-init/cloud-config.ts";
export { InvalidUserDataInputError, UserDataTooLargeError } from "./cloud-init/errors.ts";
export { SETUP_COMPLETE_MARKER } from "./cloud-init/first-boot.ts";

/** Hetzner rejects larger user_data with invalid_input ("Length must be between 0 and 32768."). */
export const USER_DATA_MAX_BYTES = 32768;

export const DEFAULT_APP_REPO_URL = "https://github.com/polly3223/Rachel8.git";

/** git and curl fetch the app and Bun; Bun's installer needs unzip; ca-certificates for TLS. */
const PACKAGES = ["git", "curl", "unzip", "ca-certificates"];

/** phone_home retries 3 s apart, so 10 tries ride out about half a minute of control-plane downtime. */
const PHONE_HOME_TRIES = 10;

/** Everything user-data is built from. All of it is public; there is deliberately no secret field. */
export interface UserDataInput {
  /** The instance the server belongs to; must equal the instance id in callbackUrl's path. */
  instanceId: string;
  /** The app's Linux user, e.g. "rachel"; gets passwordless sudo and no password login. */
  username: string;
  /** One OpenSSH ed25519 public key line ("ssh-ed25519 AAAA… comment"), the control plane's key. */
  authorizedKey: string;
  /** PUBLIC_BASE_URL + "/v1/cloud-init/{instanceId}/ready?token=…" with a single-use per-instance token. */
  callbackUrl: string;
  /** Git repository of the app. Default DEFAULT_APP_REPO_URL. */
  appRepoUrl?: string;
  /** Branch, tag or commit id to check out. Default "HEAD": the repository's default branch. */
  appRef?: string;
  /** Bun release to install for the user, e.g. "1.2.3". Default: the newest release at boot time. */
  bunVersion?: string;
  /** The bundle to boot from; when given, appRepoUrl, appRef and bunVersion are unused. */
  bundle?: BundleBoot;
}

/** The typed document for `input`; throws InvalidUserDataInputError when a field breaks its rule. */
export function buildCloudConfig(input: UserDataInput): CloudConfig {
  const instanceId = checkInstanceId(input.instanceId);
  const username = checkUsername(input.username);
  const boot = input.bundle ? fromBundle(username, input.bundle) : fromSource(username, input);
  return {
    users: [
      {
        name: username,
        groups: ["sudo"],
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        shell: "/bin/bash",
        lock_passwd: true,
        ssh_authorized_keys: [checkAuthorizedKey(input.authorizedKey)],
      },
    ],
    ...boot,
    phone_home: {
      url: checkCallbackUrl(input.callbackUrl, instanceId),
      post: ["pub_key_ed25519", "instance_id", "hostname"],
      tries: PHONE_HOME_TRIES,
    },
    final_message: `rachel-provisioner instance ${instanceId}: cloud-init finished after $UPTIME s`,
  };
}

type BootModules = Pick<
  CloudConfig,
  "package_update" | "package_upgrade" | "packages" | "write_files" | "runcmd"
>;

/** One archive from the control plane: curl, tar, gzip and sha256sum are on every stock image. */
function fromBundle(username: string, bundle: BundleBoot): BootModules {
  return {
    write_files: bundleBootFiles(bundle),
    runcmd: [bundleBootCommand(username, bundle, SETUP_COMPLETE_MARKER)],
  };
}

function fromSource(username: string, input: UserDataInput): BootModules {
  const command = firstBootCommand({
    username,
    appRepoUrl: checkAppRepoUrl(input.appRepoUrl ?? DEFAULT_APP_REPO_URL),
    appRef: checkAppRef(input.appRef ?? "HEAD"),
    bunVersion: input.bunVersion === undefined ? null : checkBunVersion(input.bunVersion),
    packages: PACKAGES,
  });
  return {
    package_update: true,
    // Upgrading every package would take minutes of the two-minute budget; the image is recent.
    package_upgrade: false,
    packages: [...PACKAGES],
    write_files: FIRST_BOOT_FILES.map((file) => ({ ...file })),
    runcmd: [command],
  };
}

/** The user-data text; throws UserDataTooLargeError past USER_DATA_MAX_BYTES UTF-8 bytes. */
export function buildUserData(input: UserDataInput): string {
  const text = serializeCloudConfig(buildCloudConfig(input));
  const sizeBytes = Buffer.byteLength(text, "utf8");
  if (sizeBytes > USER_DATA_MAX_BYTES) throw new UserDataTooLargeError(sizeBytes, USER_DATA_MAX_BYTES);
  return text;
}
