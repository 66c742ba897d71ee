/**
 * GET and HEAD /v1/instances/{instanceId}/bundles/{bundleId} on the public listener: a booting or upgrading
 * server downloads the bundle it was granted (api/bundle-download.ts). Every other method on these paths
 * reaches the same handler, which answers it with the router's plain 404, so nothing tells a prober more.
 */
import { ANY_METHOD, type Route } from "../router.ts";

export const bundleDownloadRoute: Route = {
  method: ANY_METHOD,
  path: "/v1/instances/:instanceId/bundles/:bundleId",
  handle: ({ request, deps, clientIp }) => deps.bundleDownload(request, clientIp),
};
