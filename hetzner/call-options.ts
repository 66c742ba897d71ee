import { isHetznerError } from "./errors.ts";

export interface CallOptions {
  /** Aborts the call, including any backoff or rate-limit wait; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Lookups return null for a missing resource, as hcloud-go's GetByID does; other errors propagate. */
export async function nullIfNotFound<T>(lookup: Promise<T>): Promise<T | null> {
  try {
    return await lookup;
  } catch (err) {
    if (isHetznerError(err, "not_found")) return null;
    throw err;
  }
}
