/**
 * Builds the cloud-init user-data a new server boots with: the app's user with passwordless sudo and the
 * control plane's key, the app bundle fetched from the control plane (no package installs, no other host),
 * and a phone_home that reports the server's host key to the callback URL. No secret: Hetzner stores
 * user-data and every process on the server can read it; the bundle's token is a single-purpose leave
 * (cloud-init/bundle-boot.ts); secrets follow over SSH, and so does the systemd unit (the app must not start
 * before its .env exists).
 */
import {
  type BundleBoot,
  bundleBootCommand,
  bundleBootFiles,
  SETUP_COMPLETE_MARKER,
} from "./cloud-init/bundle-boot.ts";
import { type CloudConfig, serializeCloudConfig } from "./cloud-init/cloud-config.ts";
import { UserDataTooLargeError } from "./cloud-init/errors.ts";
import {
  checkAuthorizedKey,
  checkCallbackUrl,
  checkInstanceId,
  checkUsername,
} from "./cloud-init/input-rules.ts";

export {
  APP_ROOT,
  type BundleBoot,
  CURRENT_RELEASE,
  SETUP_COMPLETE_MARKER,
} from "./cloud-init/bundle-boot.ts";
export type { CloudConfig } from "./cloud-init/cloud-config.ts";
export { InvalidUserDataInputError, UserDataTooLargeError } from "./cloud-init/errors.ts";

/** Hetzner rejects larger user_data with invalid_input ("Length must be between 0 and 32768."). */
export const USER_DATA_MAX_BYTES = 32768;

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
  /** The bundle to boot from and the leave to download it. */
  bundle: BundleBoot;
}

/** The typed document for `input`; throws InvalidUserDataInputError when a field breaks its rule. */
export function buildCloudConfig(input: UserDataInput): CloudConfig {
  const instanceId = checkInstanceId(input.instanceId);
  const username = checkUsername(input.username);
  return {
    manage_etc_hosts: "localhost",
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
    write_files: bundleBootFiles(input.bundle),
    runcmd: [bundleBootCommand(username, input.bundle, SETUP_COMPLETE_MARKER)],
    phone_home: {
      url: checkCallbackUrl(input.callbackUrl, instanceId),
      post: ["pub_key_ed25519", "instance_id", "hostname"],
      tries: PHONE_HOME_TRIES,
    },
    final_message: `rachel-provisioner instance ${instanceId}: cloud-init finished after $UPTIME s`,
  };
}

/** The user-data text; throws UserDataTooLargeError past USER_DATA_MAX_BYTES UTF-8 bytes. */
export function buildUserData(input: UserDataInput): string {
  const text = serializeCloudConfig(buildCloudConfig(input));
  const sizeBytes = Buffer.byteLength(text, "utf8");
  if (sizeBytes > USER_DATA_MAX_BYTES) throw new UserDataTooLargeError(sizeBytes, USER_DATA_MAX_BYTES);
  return text;
}
