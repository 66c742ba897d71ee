import { describe, expect, test } from "bun:test";
import { HetznerContract } from "./support/openapi.ts";

describe("HetznerContract", () => {
  const contract = new HetznerContract();

  test("accepts the documented error envelope and rejects a bare message", () => {
    expect(
      contract.check("error_response", { error: { code: "not_found", message: "x", details: null } }),
    ).toEqual([]);
    expect(contract.check("error_response", { message: "x" }).length).toBeGreaterThan(0);
  });

  test("maps statuses to the documented schemas, including bodiless 204", () => {
    expect(contract.responseSchemaName("post", "/servers", 201)).toBe("create_server_response");
    expect(contract.responseSchemaName("delete", "/servers/{id}", 200)).toBe("delete_server_response");
    expect(contract.responseSchemaName("get", "/servers", 429)).toBe("error_response");
    expect(contract.responseSchemaName("delete", "/ssh_keys/{id}", 204)).toBeNull();
  });

  test("refuses operations the file does not document", () => {
    expect(() => contract.checkRequest("post", "/nope", {})).toThrow(/not in the Hetzner OpenAPI file/);
  });
});
