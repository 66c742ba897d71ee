/** Why a fake machine could not do what was asked; `code` is stable, `message` is for people. */
export class MachineError extends Error {
  constructor(
    readonly code:
      | "sandbox_unavailable"
      | "sandbox_command_failed"
      | "invalid_user_data"
      | "machine_exists"
      | "invalid_spec"
      | "host_closed",
    message: string,
  ) {
    super(message);
    this.name = "MachineError";
  }
}
