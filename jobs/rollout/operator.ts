/**
 * The fleet rollout as operators drive it (`bun run ops rollout …` over the ops API): start, read, pause and
 * resume, each answering with the rollout's detail. Built once at start; each call that needs the broker
 * connects anew, as operators ask rarely.
 */
import type { BundleStore } from "../../bundle/store.ts";
import type { Db } from "../../db/index.ts";
import { connectRolloutBroker, type RolloutBroker } from "./broker.ts";
import { pauseRollout, type RolloutSettings, resumeRollout, startRollout } from "./request.ts";
import { latestRolloutDetail, type RolloutDetail, rolloutDetail } from "./view.ts";

/** Broker commands of an operator's request fail after this long, in ms, so a broker outage is a prompt answer. */
const OPERATOR_BROKER_TIMEOUT_MS = 5000;

export interface OperatorRolloutDeps {
  db: Db;
  store: BundleStore;
  /** Where the broker listens. */
  broker: { host: string; port: number; token: string };
  /** The configured server type: the architecture of an instance that records no bundle. */
  serverType: string;
  /** Clock, in epoch ms. */
  now: () => number;
}

export interface OperatorRollouts {
  /** Starts a rollout to `bundleId`; throws RolloutRefusedError or RolloutNotQueuedError. */
  start(bundleId: string, settings: RolloutSettings): Promise<{ id: string; detail: RolloutDetail | null }>;
  /** The newest rollout with its members, or null before the first. */
  latest(): RolloutDetail | null;
  /** Pauses the rollout under way; throws RolloutRefusedError. */
  pause(): { id: string; detail: RolloutDetail | null };
  /** Resumes the rollout under way; throws RolloutRefusedError or RolloutNotQueuedError. */
  resume(): Promise<{ id: string; detail: RolloutDetail | null }>;
}

export function createOperatorRollouts(deps: OperatorRolloutDeps): OperatorRollouts {
  const { db, now } = deps;
  const withBroker = async <T>(use: (broker: RolloutBroker) => Promise<T>): Promise<T> => {
    const broker = connectRolloutBroker({ ...deps.broker, commandTimeoutMs: OPERATOR_BROKER_TIMEOUT_MS });
    try {
      return await use(broker);
    } finally {
      await broker.close();
    }
  };
  const answer = (rolloutId: string) => ({ id: rolloutId, detail: rolloutDetail(db, rolloutId, now()) });
  return {
    async start(bundleId, settings) {
      const { store, serverType } = deps;
      const rollout = await withBroker((broker) =>
        startRollout({ db, store, broker, serverType, now }, bundleId, settings),
      );
      return answer(rollout.id);
    },
    latest: () => latestRolloutDetail(db, now()),
    pause: () => answer(pauseRollout({ db, now }).id),
    async resume() {
      const rollout = await withBroker((broker) => resumeRollout({ db, broker, now }));
      return answer(rollout.id);
    },
  };
}
