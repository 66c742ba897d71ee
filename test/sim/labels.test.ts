import { describe, expect, test } from "bun:test";
import { SimApiError } from "../../sim/api/errors.ts";
import { matchesSelector, parseLabels, parseSelector } from "../../sim/api/labels.ts";

const labels = { env: "prod", tier: "web", "example.com/owner": "rachel", empty: "" };

describe("label selector grammar", () => {
  const matching: [string, boolean][] = [
    ["env=prod", true],
    ["env==prod", true],
    ["env=dev", false],
    ["env!=dev", true],
    ["env!=prod", false],
    ["missing!=x", true],
    ["env", true],
    ["missing", false],
    ["!missing", true],
    ["!env", false],
    ["env in (dev,prod)", true],
    ["env in (dev, staging)", false],
    ["missing in (a)", false],
    ["env notin (dev,staging)", true],
    ["env notin (prod)", false],
    ["missing notin (a,b)", true],
    ["env=prod,tier=web", true],
    ["env=prod, tier=db", false],
    ["env in (prod,dev),!missing,tier", true],
    ["example.com/owner=rachel", true],
    ["empty=", true],
    ["empty==", true],
    ["env==", false],
    [" env = prod ", true],
    ["", true],
  ];
  test.each(matching)("%p matches: %p", (selector, expected) => {
    expect(matchesSelector(parseSelector(selector), labels)).toBe(expected);
  });

  const invalid = [
    "env=prod,",
    ",env",
    "env in ()",
    "env in (a,)",
    "env in (a",
    "env notin a,b",
    "=prod",
    "env=pr od",
    "env=a=b",
    "-env=prod",
    "env=-prod",
    "!",
    "env in ((a))",
    "env===prod",
    "hetzner cloud=x",
  ];
  test.each(invalid)("%p is invalid_input on label_selector", (selector) => {
    let caught: unknown;
    try {
      parseSelector(selector);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SimApiError);
    const err = caught as SimApiError;
    expect([err.status, err.code]).toEqual([422, "invalid_input"]);
    expect(err.details).toMatchObject({ fields: [{ name: "label_selector" }] });
  });
});

describe("label validation", () => {
  test("accepts prefixed keys, empty values and 63-character values", () => {
    const ok = { "example.com/a": "", b: "x".repeat(63), "c.d_e-f": "A.b_c-D" };
    expect(parseLabels(ok)).toEqual(ok);
  });

  const bad: [string, Record<string, unknown>][] = [
    ["reserved prefix", { "hetzner.cloud/x": "y" }],
    ["value too long", { a: "x".repeat(64) }],
    ["value with a space", { a: "b c" }],
    ["value starting with a dash", { a: "-b" }],
    ["key with a space", { "a b": "c" }],
    ["key name too long", { ["k".repeat(64)]: "v" }],
    ["non-string value", { a: 1 }],
  ];
  test.each(bad)("rejects %s", (_, input) => {
    expect(() => parseLabels(input)).toThrow(SimApiError);
  });
});
