/** Reading JSON request bodies the way Hetzner rejects them: malformed JSON is 400 json_error. */
import { invalidField, SimApiError } from "./errors.ts";

export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SimApiError(400, "json_error", "JSON decode error: request body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new SimApiError(400, "json_error", "request body must be a JSON object");
  return body as Record<string, unknown>;
}

/** A required non-empty string field, or invalid_input naming it. */
export function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== "string" || value === "")
    throw invalidField(field, "Missing data for required field.");
  return value;
}

/** An optional string field: undefined when absent, invalid_input when not a string. */
export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidField(field, "Not a valid string.");
  return value;
}

/**
 * A field the OpenAPI file documents as "ID or name": a non-empty string or a positive integer (the official
 * clients send numeric ids); undefined when absent, invalid_input when of another type.
 */
export function optionalRef(body: Record<string, unknown>, field: string): string | number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if ((typeof value === "string" && value !== "") || (Number.isSafeInteger(value) && (value as number) > 0))
    return value as string | number;
  throw invalidField(field, "Must be an ID (integer) or a name (string).");
}

/** A required "ID or name" field (see optionalRef). */
export function requireRef(body: Record<string, unknown>, field: string): string | number {
  const value = optionalRef(body, field);
  if (value === undefined) throw invalidField(field, "Missing data for required field.");
  return value;
}
