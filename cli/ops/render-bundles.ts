/** The table for `ops bundles`. */
import type { BundleList } from "../../domain/ops/bundles.ts";
import { formatTable } from "./table.ts";

const MB = 1_000_000;
/** Instance ids listed per bundle before the rest is counted: a fleet's worth would not fit a line. */
const INSTANCES_SHOWN = 3;

export function renderBundles(list: BundleList): string[] {
  if (list.bundles.length === 0 && list.missing.length === 0) {
    return ["no bundles yet: build one with `bun run bundle`"];
  }
  return [
    ...formatTable(
      ["bundle", "arch", "current", "app commit", "bun", "claude", "size MB", "built", "instances"],
      list.bundles.map((bundle) => [
        bundle.id.slice(0, 12),
        bundle.architecture,
        bundle.current ? "yes" : "",
        bundle.appCommit.slice(0, 12),
        bundle.bunVersion,
        bundle.claudeCodeVersion,
        Math.round((bundle.sizeBytes / MB) * 10) / 10,
        new Date(bundle.builtAt).toISOString().slice(0, 19).replace("T", " "),
        instancesText(bundle.instances),
      ]),
    ),
    ...list.missing.map(
      (gone) =>
        `  bundle ${gone.bundleId.slice(0, 12)} is gone from disk; still run by ${instancesText(gone.instances)}`,
    ),
  ];
}

function instancesText(ids: readonly string[]): string {
  if (ids.length <= INSTANCES_SHOWN) return ids.join(", ");
  return `${ids.slice(0, INSTANCES_SHOWN).join(", ")} and ${ids.length - INSTANCES_SHOWN} more`;
}
