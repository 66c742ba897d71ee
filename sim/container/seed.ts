/**
 * What a cloud hands a new machine, written into the container's own (upper) layer before its
 * first boot: the NoCloud seed (meta-data with instance id and hostname, the server's user_data)
 * and the image's datasource setting. Real cloud-init reads them; nothing here does its work.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

export interface SeedSpec {
  serverId: number;
  name: string;
  userData: string | null;
  sshPort: number;
}

/** The image's own cloud.cfg.d drop-in, as Hetzner's images carry one for their datasource. */
const IMAGE_CLOUD_CFG = [
  "# rachel-sim: this machine's datasource is the NoCloud seed in /var/lib/cloud/seed/nocloud.",
  "datasource_list: [ NoCloud, None ]",
  "# eth0's address is configured by the lab before boot, as the host's DHCP would hand it out.",
  "network: {config: disabled}",
  "",
].join("\n");

async function put(root: string, path: string, content: string, mode = 0o644): Promise<void> {
  const file = join(root, path);
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  await writeFile(file, content, { mode });
}

/** Writes the seed under `upper` (the container's overlay upper directory). */
export async function writeSeed(upper: string, spec: SeedSpec): Promise<void> {
  // JSON is YAML: no quoting rules to get wrong for the instance id or the hostname.
  const metaData = JSON.stringify({ "instance-id": String(spec.serverId), "local-hostname": spec.name });
  await put(upper, "var/lib/cloud/seed/nocloud/meta-data", `${metaData}\n`);
  await put(upper, "var/lib/cloud/seed/nocloud/user-data", spec.userData ?? "", 0o600);
  await put(upper, "etc/cloud/cloud.cfg.d/90-rachel-sim.cfg", IMAGE_CLOUD_CFG);
  if (spec.sshPort !== 22)
    await put(
      upper,
      "etc/ssh/sshd_config.d/90-rachel-sim.conf",
      `# The simulator's SSH port.\nPort ${spec.sshPort}\n`,
    );
}
