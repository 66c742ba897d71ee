/** What an upgrade needs: the remote steps' deps and where servers reach the control plane. */

import type { ProvisionSettings } from "../provision/steps/deps.ts";
import type { RemoteStepDeps } from "../shared/connect-server.ts";

export type UpgradeDeps = RemoteStepDeps & {
  settings: RemoteStepDeps["settings"] & Pick<ProvisionSettings, "publicBaseUrl">;
};
