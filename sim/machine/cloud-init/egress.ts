/**
 * The box's one way out: the control plane. The box has a network namespace of its own with only loopback,
 * so the simulator listens on a Unix socket in the box's /run and joins every connection to the control
 * plane's host and port (the phone_home URL's), leaving from the machine's own address as a real server's
 * requests would; the box's curl uses it for that host only (shims/curl).
 */
import { chmod, rm } from "node:fs/promises";
import { join } from "node:path";
import { relay } from "../../socket-pair.ts";
import type { FileOp } from "../sandbox/files.ts";

/** The socket and the `host:port` it reaches, inside the box. */
const EGRESS_DIR = "run/sim-egress";

export interface Egress {
  /** Writes /run/sim-egress/target, which tells the box's curl which host the socket reaches. */
  readonly targetFile: FileOp;
  /** Stops listening; connections still open end with the box's processes. */
  close(): void;
}

/** Opens the socket under `rootDir` towards `url`'s host and port, from `localAddress`. */
export async function openEgress(rootDir: string, url: URL, localAddress: string): Promise<Egress> {
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const path = join(rootDir, EGRESS_DIR, "socket");
  await rm(path, { force: true });
  const server = await relay({ path }, { host, port, localAddress });
  // The box may run as another uid than the simulator: anyone in it may connect, as to a network.
  await chmod(path, 0o666);
  return {
    targetFile: {
      kind: "write",
      path: `/${EGRESS_DIR}/target`,
      mode: "644",
      content: `${url.hostname}:${port}\n`,
    },
    close: () => void server.close(),
  };
}
