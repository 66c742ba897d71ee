/**
 * The contract between the simulated Hetzner API (sim/api) and the machine behind each server, whatever
 * backs it (sim/machines.ts chooses: the stand-in in sim/machine, a container in sim/container). The API
 * owns the server lifecycle; a machine owns its address, SSH endpoint, disk and first boot.
 */

/** What the API hands a machine when a server is created. */
export interface MachineSpec {
  serverId: number;
  /** The server's name; also the machine's hostname. */
  name: string;
  /** The loopback address (127.x.y.z) the API reported as the server's public IPv4. */
  ipv4: string;
  /** Raw `user_data` from the create request, or null when none was given. */
  userData: string | null;
  /** The server's image name (e.g. "debian-13"), for choosing what backs the server. */
  image?: string;
}

export type CloudInitState = "pending" | "running" | "done" | "error";

/** Faults a test can arm on machines (all of them, or one server by id). */
export type MachineFault =
  /** cloud-init hangs just before phone_home: users exist and SSH works, but state stays `running`. */
  | { kind: "phone_home_never"; serverId?: number }
  /** Waits `delayMs` real milliseconds (not multiplied by timeScale) before the first phone_home attempt. */
  | { kind: "phone_home_late"; delayMs: number; serverId?: number }
  /** Drops the next `times` SSH connections (default 1) right after the handshake starts. */
  | { kind: "ssh_drop"; times?: number; serverId?: number }
  /** Machines booting while armed lose `claude` at /usr/local/bin once runcmd has run (the bundle's CLI did not arrive). */
  | { kind: "claude_cli_missing"; serverId?: number };

/** What the control API (`GET /_sim/machines`) shows about a machine. */
export interface MachineView {
  serverId: number;
  name: string;
  address: string;
  sshPort: number;
  /** OpenSSH public key line of the machine's host key, e.g. `ssh-ed25519 AAAA... root@name`. */
  hostKeyEd25519: string;
  sandboxDir: string;
  userData: string | null;
  cloudInit: {
    state: CloudInitState;
    /** Human-readable reason when state is `error` (e.g. unparsable user_data). */
    error: string | null;
    phoneHome: {
      url: string | null;
      attempts: number;
      lastStatus: number | null;
      deliveredAt: string | null;
    };
  };
}

export interface Machine {
  readonly serverId: number;
  /**
   * Resolves once the machine's disk (sandbox filesystem and namespaces) is in place, made in the
   * background after `create`; rejects with the reason it could not be. `boot` waits for it. A machine
   * without one (a stand-in with no disk) is ready at once.
   */
  readonly prepared?: Promise<void>;
  view(): MachineView;
  /**
   * Called by the API when the server's start action finishes: runs cloud-init emulation in the background.
   * `dueAt` (`performance.now()` base) is when the start was due; cloud-init's configured time counts
   * from there. Default: now.
   */
  boot(dueAt?: number): void;
  /** Stops the SSH endpoint and any background work; removes the sandbox. Idempotent. */
  destroy(): Promise<void>;
}

export interface MachineHost {
  /** Allocates the machine (SSH endpoint listening, host key generated, disk being prepared) but does not boot it. */
  create(spec: MachineSpec): Promise<Machine>;
  get(serverId: number): Machine | undefined;
  list(): Machine[];
  faults: {
    add(fault: MachineFault): void;
    clear(): void;
    list(): MachineFault[];
  };
  /** Destroys every machine. */
  close(): Promise<void>;
}

/** Options for `createMachineHost`. Durations are realistic; the machine multiplies them by `timeScale`. */
export interface MachineHostOptions {
  /** Directory under which each machine gets its sandbox (`<dir>/<serverId>`). */
  dataDir: string;
  /** One TCP port shared by all machines, each bound on its own address. */
  sshPort: number;
  /** Multiplies simulated durations (cloud-init run time, phone_home retry spacing). 1 = realistic. */
  timeScale: number;
  /** Realistic (unscaled) time from boot to phone_home, in ms; the box's first-boot work runs within it. */
  cloudInitMs: number;
  /**
   * Receives failures no caller is waiting for (e.g. an SSH login whose account lookup broke inside the
   * sandbox). Default: written to stderr.
   */
  onError?: (error: Error, serverId: number) => void;
}
