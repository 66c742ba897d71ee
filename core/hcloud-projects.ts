/**
 * The Hetzner projects servers are created in. Hetzner caps each project (3600 requests an hour, a server
 * limit raised only by a form), so a fleet spreads over several: HCLOUD_PROJECTS (or HCLOUD_PROJECTS_FILE)
 * is a JSON array of them. Unset, the one project of HCLOUD_TOKEN and HCLOUD_SERVER_LIMIT is the default.
 *
 *   [{ "name": "eu-1", "tokenFile": "/run/credentials/rachel/hcloud-eu-1", "serverLimit": 300,
 *      "locations": ["nbg1", "fsn1"], "serverTypes": ["cx23", "cx33"] }]
 *
 * Every problem is reported as `HCLOUD_PROJECTS[i].field: what is wrong`, never with a token in it.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

/** The project of a single-project configuration (HCLOUD_TOKEN); instances recorded before projects carry it. */
export const DEFAULT_PROJECT = "default";

export interface HcloudProject {
  /** Our name for it: recorded on each instance (instances.hetzner_project), a metrics label. */
  readonly name: string;
  /** Its read/write API token; secret. */
  readonly token: string;
  /** Servers it may hold (Hetzner has no API to read the limit); null = unknown, learned from Hetzner's refusal. */
  readonly serverLimit: number | null;
  /** Locations servers are created in, preferred first. */
  readonly locations: readonly string[];
  /** Server types, preferred first; a later one is tried when every location refuses the ones before it. */
  readonly serverTypes: readonly string[];
  /**
   * Whether the fallback may go to a type of another CPU architecture (booting that architecture's bundle);
   * false keeps it to the first type's architecture.
   */
  readonly anyArchitecture: boolean;
}

/** At least one project, in the configured order. */
export type HcloudProjects = readonly [HcloudProject, ...HcloudProject[]];

/** What a project omits comes from the single-project variables. */
export interface ProjectDefaults {
  locations: readonly string[];
  serverTypes: readonly string[];
  anyArchitecture: boolean;
}

const HCLOUD_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const hcloudNames = (what: string) =>
  z
    .array(z.string().regex(HCLOUD_NAME, { error: `must be a lowercase Hetzner ${what} name` }), {
      error: `must be an array of Hetzner ${what} names`,
    })
    .min(1, { error: `must name at least one ${what}` });

const projectSchema = z.strictObject(
  {
    name: z.string({ error: "required" }).regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
      error: "must be 1-63 lowercase letters, digits or '-'",
    }),
    token: z.string().min(1, { error: "must not be empty" }).optional(),
    tokenFile: z.string().min(1, { error: "must not be empty" }).optional(),
    serverLimit: z
      .int({ error: "must be an integer 0-100000" })
      .min(0, { error: "must be an integer 0-100000" })
      .max(100_000, { error: "must be an integer 0-100000" })
      .nullable()
      .optional(),
    locations: hcloudNames("location").optional(),
    serverTypes: hcloudNames("server type").optional(),
    anyArchitecture: z.boolean({ error: "must be true or false" }).optional(),
  },
  {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown field ${issue.keys.map((key) => `'${key}'`).join(", ")}`
        : "must be an object with name and token or tokenFile",
  },
);

const projectsSchema = z
  .array(projectSchema, { error: "must be a JSON array of projects" })
  .min(1, { error: "must list at least one project" });

type ProjectInput = z.output<typeof projectSchema>;

/**
 * Parses the HCLOUD_PROJECTS JSON; returns the projects, or `problems` (each `HCLOUD_PROJECTS…: message`).
 * Token files are read here, once, like every other `_FILE` secret.
 */
export function parseHcloudProjects(
  raw: string,
  defaults: ProjectDefaults,
): { projects: HcloudProject[]; problems: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    // The parser's message quotes the input, which holds tokens.
    return { projects: [], problems: ["HCLOUD_PROJECTS: must be valid JSON"] };
  }
  const parsed = projectsSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${pathOf(issue.path)}: ${issue.message}`);
    return { projects: [], problems };
  }
  const problems: string[] = [];
  const projects = parsed.data.flatMap((input, i) => {
    const token = tokenOf(input, `HCLOUD_PROJECTS[${i}]`, problems);
    return token === null ? [] : [toProject(input, token, defaults)];
  });
  problems.push(...repeats(projects));
  return { projects: problems.length > 0 ? [] : projects, problems };
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, key) => (typeof key === "number" ? `${text}[${key}]` : `${text}.${String(key)}`),
    "HCLOUD_PROJECTS",
  );
}

function tokenOf(input: ProjectInput, at: string, problems: string[]): string | null {
  if ((input.token === undefined) === (input.tokenFile === undefined)) {
    problems.push(`${at}: set exactly one of token and tokenFile`);
    return null;
  }
  if (input.token !== undefined) return input.token;
  try {
    const token = readFileSync(input.tokenFile ?? "", "utf8").trim();
    if (token !== "") return token;
    problems.push(`${at}.tokenFile: empty file ${input.tokenFile}`);
  } catch {
    problems.push(`${at}.tokenFile: cannot read ${input.tokenFile}`);
  }
  return null;
}

function toProject(input: ProjectInput, token: string, defaults: ProjectDefaults): HcloudProject {
  return {
    name: input.name,
    token,
    serverLimit: input.serverLimit ?? null,
    locations: input.locations ?? defaults.locations,
    serverTypes: unique(input.serverTypes ?? defaults.serverTypes),
    anyArchitecture: input.anyArchitecture ?? defaults.anyArchitecture,
  };
}

/** Two entries for one project would each count only their own servers against the same Hetzner limit. */
function repeats(projects: readonly HcloudProject[]): string[] {
  const problems: string[] = [];
  projects.forEach((project, i) => {
    const first = projects.findIndex((p) => p.name === project.name);
    if (first < i) problems.push(`HCLOUD_PROJECTS[${i}].name: repeats '${project.name}'`);
    const sameToken = projects.findIndex((p) => p.token === project.token);
    if (sameToken < i) {
      problems.push(`HCLOUD_PROJECTS[${i}]: has the token of '${projects[sameToken]?.name}' (one project)`);
    }
  });
  return problems;
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}
