/**
 * Label validation and Hetzner's label-selector grammar:
 * `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`; a comma means AND.
 */
import { invalidField } from "./errors.ts";

export type Labels = Record<string, string>;

export type Requirement =
  | { op: "eq" | "neq"; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "exists" | "absent"; key: string };

const NAME = /^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;
const PREFIX = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const VALUE = /^(|[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])$/;
const RESERVED_PREFIX = "hetzner.cloud/";

function isValidLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  if (slash === -1) return NAME.test(key);
  return PREFIX.test(key.slice(0, slash)) && NAME.test(key.slice(slash + 1));
}

function isValidLabelValue(value: string): boolean {
  return VALUE.test(value);
}

/** Checks a `labels` object from a request body; throws invalid_input naming `field`. */
export function parseLabels(input: unknown, field = "labels"): Labels {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object" || Array.isArray(input)) throw invalidField(field, "must be an object");
  const labels: Labels = {};
  for (const [key, value] of Object.entries(input)) {
    if (typeof value !== "string") throw invalidField(field, `value of '${key}' must be a string`);
    if (!isValidLabelKey(key)) throw invalidField(field, `invalid label key '${key}'`);
    if (key.startsWith(RESERVED_PREFIX)) throw invalidField(field, `prefix '${RESERVED_PREFIX}' is reserved`);
    if (!isValidLabelValue(value)) throw invalidField(field, `invalid value for label '${key}'`);
    labels[key] = value;
  }
  return labels;
}

/** Splits on commas that are not inside `( … )`. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth += 1;
    if (ch === ")") depth -= 1;
    if (depth < 0 || depth > 1) throw selectorError(selector);
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += ch;
  }
  if (depth !== 0) throw selectorError(selector);
  terms.push(current);
  return terms.map((t) => t.trim());
}

function selectorError(selector: string, reason = "invalid label selector") {
  return invalidField("label_selector", `${reason}: '${selector}'`);
}

const TOKEN = "([^\\s=!(),]+)";
const ABSENT = new RegExp(`^!\\s*${TOKEN}$`);
const SET = new RegExp(`^${TOKEN}\\s+(in|notin)\\s*\\((.*)\\)$`);
const COMPARE = new RegExp(`^${TOKEN}\\s*(==|!=|=)\\s*([^\\s=!(),]*)$`);
const EXISTS = new RegExp(`^${TOKEN}$`);

function parseTerm(term: string, selector: string): Requirement {
  const key = (k: string | undefined): string => {
    if (k === undefined || !isValidLabelKey(k)) throw selectorError(selector, `invalid key '${k ?? ""}'`);
    return k;
  };
  const value = (v: string): string => {
    if (!isValidLabelValue(v)) throw selectorError(selector, `invalid value '${v}'`);
    return v;
  };
  let m = ABSENT.exec(term);
  if (m) return { op: "absent", key: key(m[1]) };
  m = SET.exec(term);
  if (m) {
    const values = (m[3] ?? "").split(",").map((v) => v.trim());
    if (values.some((v) => v === "")) throw selectorError(selector, "empty value in set");
    return { op: m[2] === "in" ? "in" : "notin", key: key(m[1]), values: values.map(value) };
  }
  m = COMPARE.exec(term);
  if (m) return { op: m[2] === "!=" ? "neq" : "eq", key: key(m[1]), value: value(m[3] ?? "") };
  m = EXISTS.exec(term);
  if (m) return { op: "exists", key: key(m[1]) };
  throw selectorError(selector);
}

/** Parses a selector; an empty or absent selector matches everything. Throws invalid_input on bad syntax. */
export function parseSelector(selector: string | null): Requirement[] {
  if (selector === null || selector.trim() === "") return [];
  return splitTerms(selector).map((term) => {
    if (term === "") throw selectorError(selector, "empty requirement");
    return parseTerm(term, selector);
  });
}

function satisfies(req: Requirement, labels: Labels): boolean {
  const actual = Object.hasOwn(labels, req.key) ? labels[req.key] : undefined;
  switch (req.op) {
    case "eq":
      return actual === req.value;
    case "neq":
      return actual !== req.value;
    case "in":
      return actual !== undefined && req.values.includes(actual);
    case "notin":
      return actual === undefined || !req.values.includes(actual);
    case "exists":
      return actual !== undefined;
    case "absent":
      return actual === undefined;
  }
}

export function matchesSelector(requirements: Requirement[], labels: Labels): boolean {
  return requirements.every((req) => satisfies(req, labels));
}
