/**
 * Step create-server: one POST /servers with the instance's name, labels, key, firewall and cloud-init
 * user-data, in the instance's Hetzner project; ids, addresses and the server type are persisted the moment
 * the API answers. No action is polled here: the callback says when the machine is up. Capacity fallback:
 * each of the project's locations is tried for its first server type, then for the next type of the same
 * architecture (any architecture when the project allows it) — see fallbackTypes. The user-data boots the
 * current app bundle of the type's architecture, with a boot grant to download it (the same grant, and
 * token, on every attempt of this job).
 * Idempotent: a server already under our name and labels is adopted if it can still phone home, else
 * deleted and created anew (see adoption.ts).
 */
import { z } from "zod";
import { architectureOfServerType, type BundleArchitecture } from "../../../bundle/architecture.ts";
import { bundleStoreDir, createBundleStore } from "../../../bundle/store.ts";
import { bundleDownloadUrl, issueBundleGrant } from "../../../domain/bundles/grants.ts";
import { APP_USER, isOwnedBy, ownershipLabels, resourceNameFor } from "../../../domain/ownership.ts";
import { type CreatedServer, isHetznerError, type Server } from "../../../hetzner/index.ts";
import { discardPendingSignals, findPendingSignal } from "../../../queue/signals.ts";
import { fallbackTypes, type HetznerProject, projectOf } from "../../capacity/projects.ts";
import { JobError, PermanentError, StepOutputMismatchError } from "../../errors.ts";
import { loadInstance, updateInstance } from "../../shared/instance-row.ts";
import { deleteInstanceServer, deleteServerById } from "../../shared/remove-server.ts";
import { hetznerStepRetry } from "../../shared/retry-policies.ts";
import { type Step, type StepContext, stepRef } from "../../step.ts";
import { CLOUD_INIT_READY_SIGNAL, issueCallbackToken } from "../callback-token.ts";
import { buildUserData } from "../cloud-init.ts";
import { type AdoptionVerdict, BOOT_COMMANDS, judgeAdoption } from "./adoption.ts";
import { awaitCloudInitRef } from "./await-cloud-init.ts";
import type { ProvisionDeps } from "./deps.ts";
import { firewallRef } from "./firewall.ts";
import { sshKeyRef } from "./ssh-key.ts";
import { takeBackClaudeCredentials } from "./take-back-credentials.ts";

export const createServerRef = stepRef(
  "create-server",
  z.object({
    serverId: z.number().int(),
    location: z.string(),
    /** The server type it got (a fallback when every location refused the preferred one). */
    serverType: z.string().optional(),
    /** create_server and the chained start_server (of an adopted server too: read from its action list). */
    actionIds: z.array(z.number().int()),
    /** When the server was created, in epoch ms: the cloud-init deadline counts from here, adopted or not. */
    createdAt: z.number(),
    /** The server found under our name that could never phone home, deleted before this one was created. */
    replaced: z.object({ serverId: z.number().int(), reason: z.string() }).optional(),
  }),
);
export type CreateServerOutput = z.infer<typeof createServerRef.output>;

export function createServerStep(deps: ProvisionDeps): Step<CreateServerOutput> {
  const now = deps.now ?? Date.now;
  return {
    ...createServerRef,
    retry: hetznerStepRetry,
    timeoutMs: 120_000,
    crashPoints: ["answered"],
    async run(ctx) {
      const { sshKeyId } = ctx.outputOf(sshKeyRef);
      const { firewallId } = ctx.outputOf(firewallRef);
      const project = projectOf(deps, ctx.instanceId);
      const userData = userDataByArchitecture(deps, ctx.instanceId, ctx.jobId, project);
      const request = { project, sshKeyId, firewallId, userData, signal: ctx.signal };
      const found = await createWithFallback(deps, ctx, request);
      const replaced =
        found.kind === "replace" ? { serverId: found.server.id, reason: found.reason } : undefined;
      const created = found.kind === "replace" ? await replaceServer(deps, ctx, found, request) : found;
      // The server exists at Hetzner, its id is not stored yet: the retry must adopt it, not make another.
      ctx.crashPoint?.("answered");
      const server = created.server;
      const location = server.location.name;
      const serverType = server.server_type.name;
      // A new machine phones home anew: a callback kept from a server an earlier run deleted would make the
      // API answer this one's as a repeat and never wake the wait. An adopted server keeps what it reported.
      const callbackReset =
        created.kind === "created" ? { reportedHostKey: null, callbackReceivedAt: null } : {};
      updateInstance(
        deps.db,
        ctx.instanceId,
        {
          hetznerServerId: server.id,
          serverName: server.name,
          location,
          serverType,
          ipv4: server.public_net.ipv4?.ip ?? null,
          ipv6: server.public_net.ipv6?.ip ?? null,
          ...callbackReset,
        },
        now(),
      );
      // Likewise a callback still unused came from a server that is gone: it must not satisfy this one's wait.
      if (created.kind === "created") {
        discardPendingSignals(deps.db, ctx.instanceId, CLOUD_INIT_READY_SIGNAL, now());
      }
      const output = {
        serverId: server.id,
        location,
        serverType,
        actionIds: created.actionIds,
        createdAt: created.createdAt ?? now(),
      };
      return replaced ? { ...output, replaced } : output;
    },
    async compensate(ctx) {
      // A re-run boots a replacement: it should get the tokens this machine may have rotated.
      await takeBackClaudeCredentials(deps, ctx.instanceId, callbackReport(ctx), ctx.signal, ctx.log);
      await deleteInstanceServer(deps, ctx.instanceId, {
        signal: ctx.signal,
        awaitDeletion: true,
        expectedDeletionMs: deps.expectedServerDeletionMs,
      });
    },
  };
}

/**
 * What this machine's callback reported, for the take-back's pinned connection. The take-back is best effort
 * and must not keep the server from being deleted: a stored report that no longer parses is logged and the
 * host key kept on the instance is used instead.
 */
function callbackReport(ctx: StepContext) {
  try {
    return ctx.optionalOutputOf(awaitCloudInitRef);
  } catch (err) {
    if (!(err instanceof StepOutputMismatchError)) throw err;
    ctx.log.warn({ err }, "taking the Claude credentials back with the instance's stored host key");
    return undefined;
  }
}

/** Past the callback deadline, a boot grant still lets a slow download that began in time finish (ms). */
const BOOT_GRANT_MARGIN_MS = 10 * 60_000;

/** The user-data for servers of each architecture, built once each, when a type of it is first tried. */
function userDataByArchitecture(
  deps: ProvisionDeps,
  instanceId: string,
  jobId: string,
  project: HetznerProject,
): (serverType: string) => Promise<string> {
  const built = new Map<BundleArchitecture, Promise<string>>();
  const preferred = architectureOfServerType(project.serverTypes[0] ?? "");
  return (serverType) => {
    const architecture = architectureOfServerType(serverType);
    // The preferred architecture keeps the grant id a provision always had; another gets its own grant.
    const grantId = architecture === preferred ? `boot:${jobId}` : `boot:${jobId}:${architecture}`;
    const userData = built.get(architecture) ?? userDataFor(deps, instanceId, grantId, serverType);
    built.set(architecture, userData);
    return userData;
  };
}

async function userDataFor(
  deps: ProvisionDeps,
  instanceId: string,
  grantId: string,
  serverType: string,
): Promise<string> {
  const row = loadInstance(deps.db, instanceId);
  if (row.sshPublicKey === null) throw new PermanentError(`instance ${instanceId} has no SSH public key`);
  const token = issueCallbackToken(deps.db, deps.sealer, instanceId);
  const base = deps.settings.publicBaseUrl.replace(/\/+$/, "");
  const bundleId = await currentBundleId(deps, serverType);
  const now = (deps.now ?? Date.now)();
  const bundleToken = issueBundleGrant(deps.db, deps.sealer, {
    grantId,
    instanceId,
    purpose: "boot",
    bundleId,
    expiresAt: now + deps.settings.cloudInitTimeoutMs + BOOT_GRANT_MARGIN_MS,
    now,
  });
  return buildUserData({
    instanceId,
    username: APP_USER,
    authorizedKey: row.sshPublicKey,
    callbackUrl: `${base}/v1/cloud-init/${instanceId}/ready?token=${encodeURIComponent(token)}`,
    bundle: { url: bundleDownloadUrl(base, instanceId, bundleId), sha256: bundleId, token: bundleToken },
  });
}

/** The bundle new servers of the type boot; none is a setup the operator must complete. */
async function currentBundleId(deps: ProvisionDeps, serverType: string): Promise<string> {
  const architecture = architectureOfServerType(serverType);
  const store = createBundleStore(bundleStoreDir(deps.settings.dataDir));
  const id = (await store.current())[architecture];
  if (id === undefined || (await store.get(id)) === null) {
    throw new PermanentError(
      `no app bundle for ${architecture} servers (${serverType}): run \`bun run bundle\` on the control plane, then retry`,
      { code: "no_bundle" },
    );
  }
  return id;
}

interface CreateRequest {
  project: HetznerProject;
  sshKeyId: number;
  firewallId: number;
  /** The user-data for a server of the type. */
  userData: (serverType: string) => Promise<string>;
  signal: AbortSignal;
}

/** A server created now, one adopted (created earlier, at `createdAt`), or one to delete and create anew. */
type Outcome =
  | { kind: "created"; server: Server; actionIds: number[]; createdAt: null }
  | { kind: "adopted"; server: Server; actionIds: number[]; createdAt: number }
  | { kind: "replace"; server: Server; reason: string };

/** Deletes a server under our name that can never phone home, then creates the instance's anew. */
async function replaceServer(
  deps: ProvisionDeps,
  ctx: Pick<StepContext, "instanceId" | "log">,
  found: Extract<Outcome, { kind: "replace" }>,
  request: CreateRequest,
): Promise<Exclude<Outcome, { kind: "replace" }>> {
  ctx.log.warn(
    { serverId: found.server.id, reason: found.reason },
    "server under our name can never phone home; replacing it",
  );
  await deleteServerById(request.project.client, found.server.id, {
    signal: request.signal,
    awaitDeletion: true,
    expectedDeletionMs: deps.expectedServerDeletionMs,
  });
  const created = await createWithFallback(deps, ctx, request);
  if (created.kind === "replace") {
    throw new JobError("name_held", `server name ${created.server.name} is held again after replacing it`);
  }
  return created;
}

/**
 * Tries every location of the project for each type in turn; only a capacity refusal (resource_unavailable)
 * moves on, to the next location, then to the next type once every location refused it.
 */
async function createWithFallback(
  deps: ProvisionDeps,
  ctx: Pick<StepContext, "instanceId" | "log">,
  request: CreateRequest,
): Promise<Outcome> {
  const { settings } = deps;
  const { project, signal } = request;
  const name = resourceNameFor(ctx.instanceId);
  const types = fallbackTypes(project);
  for (const serverType of types) {
    if (serverType !== types[0])
      ctx.log.warn(
        { project: project.name, serverType },
        "no capacity for the preferred server type; trying the next",
      );
    for (const location of project.locations) {
      try {
        const created = await project.client.servers.create(
          {
            name,
            serverType,
            image: settings.serverImage,
            location,
            userData: await request.userData(serverType),
            labels: { ...settings.hcloudLabels, ...ownershipLabels(ctx.instanceId) },
            sshKeys: [request.sshKeyId],
            firewalls: [request.firewallId],
          },
          { signal },
        );
        return { kind: "created", server: created.server, actionIds: actionIdsOf(created), createdAt: null };
      } catch (err) {
        if (isHetznerError(err, "resource_unavailable")) continue;
        if (isHetznerError(err, "uniqueness_error"))
          return adoptServer(deps, project, ctx.instanceId, signal);
        throw explainRefusal(err, serverType);
      }
    }
  }
  throw new JobError(
    "no_capacity",
    `no capacity for ${types.join(" or ")} in any of ${project.locations.join(", ")} (Hetzner project ${project.name})`,
  );
}

function actionIdsOf(created: CreatedServer): number[] {
  return [created.action.id, ...created.nextActions.map((a) => a.id)];
}

/**
 * The name is taken: our own server from an attempt whose answer was lost or whose rollback could not delete
 * it (adopted if it can still phone home, else to be replaced), or a stranger's (left alone).
 */
async function adoptServer(
  deps: ProvisionDeps,
  project: HetznerProject,
  instanceId: string,
  signal: AbortSignal,
): Promise<Outcome> {
  const name = resourceNameFor(instanceId);
  const [existing] = await project.client.servers.listAll({ name, signal });
  if (!existing) {
    // Hetzner frees a deleted server's name only when its delete_server action ends: try again later.
    throw new JobError("name_held", `server name ${name} is still held by a server being deleted`);
  }
  if (!isOwnedBy(existing.labels, instanceId)) {
    throw new PermanentError(
      `a server named ${name} exists without this instance's labels; not adopting it`,
      {
        code: "server_name_conflict",
      },
    );
  }
  if (existing.status === "deleting") {
    throw new JobError("name_held", `server ${name} (${existing.id}) is being deleted; its name frees soon`);
  }
  const actions = (await project.client.servers.actions(existing.id, { signal })).filter((a) =>
    BOOT_COMMANDS.has(a.command),
  );
  const verdict: AdoptionVerdict = judgeAdoption({
    server: existing,
    actions,
    callback: callbackOf(deps, instanceId, existing),
    bootMs: deps.settings.cloudInitTimeoutMs,
    now: (deps.now ?? Date.now)(),
  });
  if (!verdict.keep) return { kind: "replace", server: existing, reason: verdict.reason };
  return {
    kind: "adopted",
    server: existing,
    actionIds: actions.map((a) => a.id),
    createdAt: Date.parse(existing.created),
  };
}

/** Whether `server` phoned home, and whether a wait has used its callback since. */
function callbackOf(
  deps: ProvisionDeps,
  instanceId: string,
  server: Server,
): "none" | "pending" | "consumed" {
  const since = Date.parse(server.created);
  if (findPendingSignal(deps.db, instanceId, CLOUD_INIT_READY_SIGNAL, since)) return "pending";
  const row = loadInstance(deps.db, instanceId);
  const received = row.callbackReceivedAt !== null && row.hetznerServerId === server.id;
  return received ? "consumed" : "none";
}

/** Refusals no retry can fix, worded for the operator who has to act on them. */
function explainRefusal(err: unknown, serverType: string): unknown {
  if (isHetznerError(err, "resource_limit_exceeded")) {
    return new PermanentError(
      `Hetzner refused to create a ${serverType}: the project's server limit is reached; raise it in the Hetzner console or delete unused servers, then retry`,
      { code: "resource_limit_exceeded", cause: err },
    );
  }
  if (isHetznerError(err, "invalid_input")) {
    return new PermanentError(
      `Hetzner rejected the server request as invalid (check the project's server types and locations, SERVER_IMAGE): ${err.message}`,
      { code: "invalid_input", cause: err },
    );
  }
  return err;
}
