import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";

/** The vendored OpenAPI description (MIT; see hetzner/openapi/NOTICE). */
const specPath = resolve(import.meta.dir, "../../hetzner/openapi/hcloud-openapi.json");

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** OpenAPI 3.0 `nullable` is not JSON Schema; ajv rejects it beside $ref/allOf, so rewrite it once. */
function convertNullable(node: Json): Json {
  if (Array.isArray(node)) return node.map(convertNullable);
  if (node === null || typeof node !== "object") return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key !== "nullable") out[key] = convertNullable(value);
  }
  if (node.nullable !== true) return out;
  if (typeof out.type === "string") return { ...out, type: [out.type, "null"] };
  return { anyOf: [out, { type: "null" }] };
}

interface Operation {
  requestBody?: { content?: { "application/json"?: { schema?: { $ref?: string } } } };
  responses: Record<string, { content?: { "application/json"?: { schema?: { $ref?: string } } } }>;
}

export interface ContractViolation {
  where: string;
  errors: string[];
}

/** Validates simulator responses and client request bodies against the published Hetzner OpenAPI file. */
export class HetznerContract {
  private readonly ajv: Ajv;
  private readonly paths: Record<string, Record<string, Operation>>;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    const spec = JSON.parse(readFileSync(specPath, "utf8")) as {
      paths: Record<string, Record<string, Operation>>;
      components: JsonObject;
    };
    this.paths = spec.paths;
    this.ajv = new Ajv({ strict: false, allErrors: true });
    // Real format checks (date-time, int64, …) catch a simulator answering a timestamp in the wrong shape.
    addFormats(this.ajv);
    this.ajv.addFormat("decimal", () => true);
    this.ajv.addSchema({ components: convertNullable(spec.components) }, "spec");
  }

  /** The component schema name a documented operation answers with for `status` (exact code, then 4xx/5xx). */
  responseSchemaName(method: string, pathTemplate: string, status: number): string | null {
    const op = this.operation(method, pathTemplate);
    const response = op.responses[String(status)] ?? op.responses[`${String(status)[0]}xx`];
    if (!response)
      throw new Error(`${method.toUpperCase()} ${pathTemplate} does not document status ${status}`);
    return refName(response.content?.["application/json"]?.schema?.$ref);
  }

  /** Returns the validation errors of a response body (empty when it conforms; bodiless statuses need none). */
  checkResponse(method: string, pathTemplate: string, status: number, body: unknown): string[] {
    const name = this.responseSchemaName(method, pathTemplate, status);
    if (name === null) return body === null || body === undefined || body === "" ? [] : ["expected no body"];
    return this.check(name, body);
  }

  /** Returns the validation errors of a request body against the operation's documented request schema. */
  checkRequest(method: string, pathTemplate: string, body: unknown): string[] {
    const name = refName(
      this.operation(method, pathTemplate).requestBody?.content?.["application/json"]?.schema?.$ref,
    );
    if (name === null)
      throw new Error(`${method.toUpperCase()} ${pathTemplate} documents no JSON request body`);
    return this.check(name, body);
  }

  /** Every operation the file documents, e.g. `{ method: "GET", path: "/servers/{id}" }`. */
  operations(): { method: string; path: string }[] {
    return Object.entries(this.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((method) => HTTP_METHODS.has(method))
        .map((method) => ({ method: method.toUpperCase(), path })),
    );
  }

  /** Validates against a named component schema, e.g. `error_response`. */
  check(schemaName: string, body: unknown): string[] {
    let validate = this.compiled.get(schemaName);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `spec#/components/schemas/${schemaName}` });
      this.compiled.set(schemaName, validate);
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${schemaName}${e.instancePath} ${e.message ?? "invalid"}`);
  }

  private operation(method: string, pathTemplate: string): Operation {
    const op = this.paths[pathTemplate]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method.toUpperCase()} ${pathTemplate} is not in the Hetzner OpenAPI file`);
    return op;
  }
}

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "patch"]);

function refName(ref: string | undefined): string | null {
  return ref ? (ref.split("/").pop() ?? null) : null;
}
