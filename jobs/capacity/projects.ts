/**
 * The Hetzner projects at run time: each configured project with its own client and so its own rate-limit
 * budget (Hetzner's 3600 requests an hour are per project), built once by the process entry point and
 * injected. An instance's every call after placement goes to the project recorded on it
 * (instances.hetzner_project); a row recorded before projects existed has none and means the first.
 */
import { eq } from "drizzle-orm";
import { architectureOfServerType } from "../../bundle/architecture.ts";
import type { HcloudProject, HcloudProjects } from "../../core/config.ts";
import type { DbSession } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import type { HetznerClient } from "../../hetzner/index.ts";
import { PermanentError } from "../errors.ts";

/** A configured project (its token stays inside its client) with its client. */
export interface HetznerProject extends Omit<HcloudProject, "token"> {
  readonly client: HetznerClient;
}

export interface HetznerProjects {
  /** Every configured project, in the configured order. */
  readonly all: readonly HetznerProject[];
  /** The project named so; null (an instance from before projects) is the first. Unknown: a PermanentError. */
  named(name: string | null): HetznerProject;
}

export function hetznerProjects(all: readonly [HetznerProject, ...HetznerProject[]]): HetznerProjects {
  const byName = new Map(all.map((project) => [project.name, project]));
  return {
    all,
    named(name) {
      if (name === null) return all[0];
      const project = byName.get(name);
      if (project) return project;
      throw new PermanentError(
        `Hetzner project '${name}' is not configured (HCLOUD_PROJECTS lists ${all.map((p) => p.name).join(", ")}); restore it to reach its servers`,
        { code: "unknown_project" },
      );
    },
  };
}

/**
 * The types a provision may get, preferred first: the project's first type, then its later ones of the same
 * architecture, or of any when the project allows it (those boot their own architecture's bundle).
 */
export function fallbackTypes(project: Pick<HcloudProject, "serverTypes" | "anyArchitecture">): string[] {
  const [first, ...rest] = project.serverTypes;
  if (first === undefined) return [];
  const architecture = architectureOfServerType(first);
  return [
    first,
    ...rest.filter((t) => project.anyArchitecture || architectureOfServerType(t) === architecture),
  ];
}

/** The configured projects, each around the client `clientFor` builds with its token. */
export function projectsWithClients(
  configured: HcloudProjects,
  clientFor: (project: HcloudProject) => HetznerClient,
): HetznerProjects {
  const withClient = (configuredProject: HcloudProject): HetznerProject => {
    const { token: _, ...project } = configuredProject;
    return { ...project, client: clientFor(configuredProject) };
  };
  const [first, ...more] = configured;
  return hetznerProjects([withClient(first), ...more.map(withClient)]);
}

/** The project an instance was placed in. */
export function projectOf(
  deps: { db: DbSession; projects: HetznerProjects },
  instanceId: string,
): HetznerProject {
  const row = deps.db
    .select({ project: instances.hetznerProject })
    .from(instances)
    .where(eq(instances.id, instanceId))
    .get();
  return deps.projects.named(row?.project ?? null);
}

/** The client of the instance's project: every Hetzner call about an instance goes through it. */
export function clientOf(
  deps: { db: DbSession; projects: HetznerProjects },
  instanceId: string,
): HetznerClient {
  return projectOf(deps, instanceId).client;
}
