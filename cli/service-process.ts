import { forwardLines } from "../core/lines.ts";
import { isHttpOk, pollUntil } from "../core/wait.ts";

/** One of the service's processes, started as `bun <entry>`. */
export interface ServiceSpec {
  /** Short name used in messages and output prefixes, e.g. "broker". */
  name: string;
  /** Absolute path of the script bun runs. */
  entry: string;
  /** The child's complete environment. */
  env: Record<string, string>;
  /** True once the process is ready, e.g. its /readyz answers 2xx (see `httpReady`). */
  isReady: () => Promise<boolean>;
  /** Receives each output line as it arrives. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Working directory; default this process's. */
  cwd?: string;
  /** Words put before `bun <entry>`, e.g. an `nsenter --net=…` that runs it in a lab namespace; it must exec. */
  launcher?: string[];
}

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code once the process and its output are done (128 + n for signal n). */
  readonly exited: Promise<number>;
  /** The exit code, or undefined while running. */
  exitCode(): number | undefined;
  /** Sends `signal` to the process's whole group (the broker launcher has a child of its own). */
  signal(signal: NodeJS.Signals): void;
  /** Resolves once `isReady` holds; rejects if the process exits first or `timeoutMs` passes. */
  waitReady(timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves with the exit code. */
  stop(graceMs: number): Promise<number>;
}

/** Thrown by waitReady when the process ends before it is ready; carries its exit code. */
export class ServiceExitedError extends Error {
  override readonly name = "ServiceExitedError";
  constructor(
    readonly service: string,
    readonly exitCode: number,
  ) {
    super(`${service} exited with code ${exitCode} before it was ready`);
  }
}

/** Spawns `bun <entry>` in its own process group so signals reach everything it started. */
export function startService(spec: ServiceSpec): ServiceProcess {
  const child = Bun.spawn([...(spec.launcher ?? []), process.execPath, spec.entry], {
    env: spec.env,
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    detached: true,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const onLine = spec.onLine ?? (() => undefined);
  const outputDone = Promise.all([
    forwardLines(child.stdout, (line) => onLine(line, "stdout")),
    forwardLines(child.stderr, (line) => onLine(line, "stderr")),
  ]);
  let code: number | undefined;
  const exited = Promise.all([child.exited, outputDone]).then(([exitCode]) => {
    code = exitCode;
    return exitCode;
  });

  const signal = (sig: NodeJS.Signals) => signalGroup(child.pid, sig);
  return {
    name: spec.name,
    pid: child.pid,
    exited,
    exitCode: () => code,
    signal,
    async waitReady(timeoutMs) {
      await pollUntil(
        async () => {
          if (code !== undefined) throw new ServiceExitedError(spec.name, code);
          return spec.isReady();
        },
        { timeoutMs, description: `${spec.name} to be ready` },
      );
    },
    async stop(graceMs) {
      if (code !== undefined) return code;
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Signals a process group; a group that is already gone is not an error. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** Readiness check: `url` answers 2xx. */
export function httpReady(url: string): () => Promise<boolean> {
  return () => isHttpOk(url, 1000);
}
