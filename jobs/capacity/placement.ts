/**
 * Placement: which Hetzner project a provision's server goes to. Pure, so the line's transaction and the
 * tests see the same choice.
 *
 * Spread, not fill-first: each new server goes to the project with room that holds the fewest. Hetzner's
 * 3600 requests an hour are per project, and a provision spends most of its requests in the hours after it
 * is placed, so spreading runs the projects' budgets side by side (fill-first would drain one budget while
 * the others idle, and a burst of paid customers would wait on a single project's refill). It also halves,
 * thirds, quarters the blast radius of one project's trouble (a revoked token, a locked account, an
 * incident in it), and a project whose limit is still unknown (learned only from Hetzner's refusal) finds
 * out with a share of the fleet, not all of it. Ties go to the configured order, the operator's preference.
 */

export interface ProjectRoom {
  name: string;
  /** Servers that may still be created there now. */
  room: number;
  /** Instances holding room there (a server, or a provision let through). */
  used: number;
}

/** The project to place the next server in, or null when none has room. */
export function placeServer(projects: readonly ProjectRoom[]): string | null {
  let best: ProjectRoom | null = null;
  for (const project of projects) {
    if (project.room <= 0) continue;
    if (best === null || project.used < best.used) best = project;
  }
  return best?.name ?? null;
}
