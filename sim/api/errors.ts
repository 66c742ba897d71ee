/** Hetzner's error envelope `{error:{code,message,details}}` and the typed error handlers throw. */

export interface FieldError {
  name: string;
  messages: string[];
}

/** An API failure with the HTTP status and Hetzner error code it answers with. */
export class SimApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.name = "SimApiError";
  }
}

export function notFound(what: string): SimApiError {
  return new SimApiError(404, "not_found", `${what} not found`);
}

/** 422 invalid_input naming each bad field, as Hetzner does (`details.fields[{name, messages}]`). */
function invalidInput(fields: FieldError[]): SimApiError {
  const summary = fields.map((f) => `invalid input in field '${f.name}'`).join(", ");
  return new SimApiError(422, "invalid_input", summary, { fields });
}

export function invalidField(name: string, message: string): SimApiError {
  return invalidInput([{ name, messages: [message] }]);
}

/** 409 uniqueness_error; Hetzner names the clashing field without messages. */
export function uniquenessError(field: string): SimApiError {
  return new SimApiError(409, "uniqueness_error", `${field} is already used`, { fields: [{ name: field }] });
}

export function lockedError(): SimApiError {
  return new SimApiError(423, "locked", "server is locked by a running action");
}

/** 423 protected: the resource's protection forbids the action until change_protection lifts it. */
export function protectedError(action: string): SimApiError {
  return new SimApiError(423, "protected", `${action} is protected for this resource`);
}

export function errorBody(code: string, message: string, details: Record<string, unknown> | null = null) {
  return { error: { code, message, details } };
}

export function errorResponse(err: SimApiError): Response {
  return Response.json(errorBody(err.code, err.message, err.details), { status: err.status });
}
