/** Actions: the asynchronous progress records every mutation returns, and the routes that read them. */
import type { SimClock } from "../clock.ts";
import { invalidField, notFound } from "./errors.ts";
import { paginate, sortItems } from "./paging.ts";
import type { Route } from "./router.ts";

export type ActionStatus = "running" | "success" | "error";

export interface Action {
  id: number;
  command: string;
  status: ActionStatus;
  /** Real ms timestamps; progress while running is the elapsed share of `durationMs`. */
  startedAt: number;
  durationMs: number;
  finishedAt: number | null;
  error: { code: string; message: string } | null;
  resources: { id: number; type: string }[];
}

/** Hetzner's action ids live in their own large range; distinct ranges catch id mix-ups in clients. */
const FIRST_ACTION_ID = 100_000_001;

export class ActionStore {
  private readonly actions = new Map<number, Action>();
  private nextId = FIRST_ACTION_ID;

  constructor(private readonly clock: SimClock) {}

  /** Starts a running action expected to take `durationMs` real milliseconds. */
  start(command: string, resources: Action["resources"], durationMs: number): Action {
    const action: Action = {
      id: this.nextId++,
      command,
      status: "running",
      startedAt: this.clock.now(),
      durationMs,
      finishedAt: null,
      error: null,
      resources,
    };
    this.actions.set(action.id, action);
    return action;
  }

  /** An action that is done the moment it starts (protection changes, firewall rules). */
  completed(command: string, resources: Action["resources"]): Action {
    const action = this.start(command, resources, 0);
    this.succeed(action);
    return action;
  }

  succeed(action: Action): void {
    action.status = "success";
    action.finishedAt = this.clock.now();
  }

  fail(action: Action, code: string, message: string): void {
    action.status = "error";
    action.finishedAt = this.clock.now();
    action.error = { code, message };
  }

  get(id: number): Action | undefined {
    return this.actions.get(id);
  }

  forResource(type: string, id: number): Action[] {
    return [...this.actions.values()].filter((a) => a.resources.some((r) => r.type === type && r.id === id));
  }

  view(action: Action) {
    return {
      id: action.id,
      command: action.command,
      status: action.status,
      progress: this.progress(action),
      started: new Date(action.startedAt).toISOString(),
      finished: action.finishedAt === null ? null : new Date(action.finishedAt).toISOString(),
      resources: action.resources,
      error: action.error,
    };
  }

  private progress(action: Action): number {
    if (action.status !== "running") return 100;
    if (action.durationMs <= 0) return 0;
    const share = (this.clock.now() - action.startedAt) / action.durationMs;
    return Math.max(0, Math.min(99, Math.floor(share * 100)));
  }
}

const ACTION_SORT = {
  id: (a: Action) => a.id,
  command: (a: Action) => a.command,
  status: (a: Action) => a.status,
  started: (a: Action) => a.startedAt,
  finished: (a: Action) => a.finishedAt,
};

/** Filters by repeated `status=` and applies sort and pagination, as Hetzner's action lists do. */
export function listActions(store: ActionStore, actions: Action[], query: URLSearchParams) {
  const statuses = query.getAll("status");
  const filtered = statuses.length ? actions.filter((a) => statuses.includes(a.status)) : actions;
  const { items, meta } = paginate(sortItems(filtered, query, ACTION_SORT), query);
  return { actions: items.map((a) => store.view(a)), meta };
}

/** GET /actions?id=… (batch poll) and GET /actions/{id}. */
export function actionRoutes(store: ActionStore): Route[] {
  return [
    {
      method: "GET",
      template: "/actions",
      handle: ({ query }) => {
        const ids = query.getAll("id");
        if (ids.length === 0) throw invalidField("id", "at least one id is required");
        if (ids.some((id) => !/^\d+$/.test(id))) throw invalidField("id", "must be integers");
        const found = ids.map((id) => store.get(Number(id))).filter((a) => a !== undefined);
        return Response.json({ actions: found.map((a) => store.view(a)) });
      },
    },
    {
      method: "GET",
      template: "/actions/{id}",
      handle: ({ params }) => {
        const action = store.get(params.id ?? 0);
        if (!action) throw notFound("action");
        return Response.json({ action: store.view(action) });
      },
    },
  ];
}
