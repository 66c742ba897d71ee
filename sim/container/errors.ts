/** Why a container machine (or the lab it lives in) could not be made; `code` is stable, `message` is for people. */
export class ContainerHostError extends Error {
  constructor(
    readonly code:
      | "requirements_missing"
      | "rootfs_build_failed"
      | "command_failed"
      | "machine_exists"
      | "invalid_spec"
      | "host_closed",
    message: string,
  ) {
    super(message);
    this.name = "ContainerHostError";
  }
}
