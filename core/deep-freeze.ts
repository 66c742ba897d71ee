/** Runtime immutability for configuration objects, matching their readonly types. */

const MAP_MUTATORS = ["set", "delete", "clear"] as const;

/**
 * Freezes plain objects, arrays and Maps recursively. Object.freeze alone leaves a Map writable,
 * so its mutators are replaced by ones that throw. Other objects (KeyObject, Buffer) are left as they are.
 */
export function deepFreeze<T>(value: T): T {
  if (value instanceof Map) {
    for (const entry of value.values()) deepFreeze(entry);
    for (const method of MAP_MUTATORS) {
      Object.defineProperty(value, method, {
        value: () => {
          throw new TypeError(`cannot ${method} on a frozen map`);
        },
      });
    }
    return Object.freeze(value);
  }
  if (Array.isArray(value) || isPlainObject(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    return Object.freeze(value);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
