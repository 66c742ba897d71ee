/** prom-client's default metrics, one module each; untyped upstream. Each registers its metrics on `registry`. */
declare module "prom-client/lib/metrics/*" {
  import type { Registry } from "prom-client";

  const register: (registry: Registry, config: Record<string, never>) => void;
  export default register;
}
