import { defineConfig } from "drizzle-kit";

// Only used by `bunx drizzle-kit generate`; the service applies migrations/ itself at start.
export default defineConfig({
  dialect: "sqlite",
  schema: "./db/schema.ts",
  out: "./migrations",
});
