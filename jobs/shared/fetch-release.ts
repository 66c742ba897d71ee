/** The shell function first boot and upgrades share to fetch, check and unpack a bundle (fetch-release.sh). */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const FETCH_RELEASE = readFileSync(join(import.meta.dir, "fetch-release.sh"), "utf8");

/** `script` with fetch_release defined right after its shebang line. */
export function withFetchRelease(script: string): string {
  const bodyStart = script.indexOf("\n") + 1;
  return `${script.slice(0, bodyStart)}${FETCH_RELEASE}${script.slice(bodyStart)}`;
}
