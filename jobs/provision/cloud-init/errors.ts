/** Typed failures of building user-data. Both are permanent: the same input fails the same way. */
import { PermanentError } from "../../errors.ts";

/** The serialized document is over Hetzner's user_data limit (measured in UTF-8 bytes). */
export class UserDataTooLargeError extends PermanentError {
  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
  ) {
    super(`user-data is ${sizeBytes} bytes (UTF-8), over the limit of ${limitBytes} bytes`, {
      code: "user_data_too_large",
    });
  }
}

/** An input field breaks its rule. The message names the field and the rule, never the value (a URL holds a token). */
export class InvalidUserDataInputError extends PermanentError {
  constructor(
    readonly field: string,
    readonly rule: string,
    options?: { cause?: unknown },
  ) {
    super(`user-data input ${field} ${rule}`, { code: "user_data_invalid_input", cause: options?.cause });
  }
}
