/** What an upgrade needs: the remote steps' deps and where servers reach the control plane. */
import type { RemoteStepDeps } from "../provision/steps/connect-server.ts";
import type { ProvisionSettings } from "../provision/steps/deps.ts";

export type UpgradeDeps = RemoteStepDeps & {
  settings: RemoteStepDeps["settings"] & Pick<ProvisionSettings, "publicBaseUrl">;
};
