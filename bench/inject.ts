/**
 * Secret injection benchmark against a real OpenSSH sshd on loopback (needs root and openssh-server, like
 * the test/remote suite): SSH round trips per injection as sshd counts them (target: at most 3), and the
 * time to connect and to inject, changed and unchanged. `bun bench/inject.ts`.
 */

import { startMachine } from "../harness/remote/machine-fixture.ts";
import { sshdUnavailableReason } from "../harness/support/sshd.ts";
import { injectSecrets, type SecretFile, type UnitFile } from "../remote/inject.ts";
import { connectPinned } from "../remote/ssh.ts";
import { type BenchFigure, printFigures } from "./support/figures.ts";

const rounds = 20;
const MAX_ROUND_TRIPS = 3;

function envFile(round: number): SecretFile {
  return { path: "rachel8/.env", content: `TELEGRAM_BOT_TOKEN=12345678:${"x".repeat(35)}${round}\n` };
}

function stats(name: string, samples: readonly number[]): BenchFigure[] {
  const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
  return [
    { name: `${name} mean`, value: mean, unit: "ms", target: Number.POSITIVE_INFINITY },
    { name: `${name} max`, value: Math.max(...samples), unit: "ms", target: Number.POSITIVE_INFINITY },
  ];
}

async function timed<T>(work: () => Promise<T>, samples: number[]): Promise<T> {
  const started = performance.now();
  const result = await work();
  samples.push(performance.now() - started);
  return result;
}

export async function runInjectBench(): Promise<BenchFigure[]> {
  const machine = await startMachine();
  try {
    const { sshd } = machine;
    const unit: UnitFile = {
      name: "bench.service",
      text: "[Service]\nExecStart=/bin/sleep 600\n",
      dir: machine.systemd.unitDir,
    };
    const connects: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const session = await timed(
        () =>
          connectPinned({
            host: sshd.host,
            port: sshd.port,
            username: sshd.user.name,
            privateKey: sshd.clientPrivateKey,
            expectedHostKey: sshd.hostKey,
          }),
        connects,
      );
      await session.close();
    }
    const changed: number[] = [];
    const unchanged: number[] = [];
    let maxRoundTrips = 0;
    for (let round = 0; round < rounds; round++) {
      for (const [samples, file] of [
        [changed, envFile(round)],
        [unchanged, envFile(round)],
      ] as const) {
        const execsBefore = machine.serverExecs();
        await timed(() => injectSecrets(machine.session, [file], unit), samples);
        maxRoundTrips = Math.max(maxRoundTrips, machine.serverExecs() - execsBefore);
      }
    }
    return [
      {
        name: "SSH round trips per injection (sshd's count)",
        value: maxRoundTrips,
        unit: "",
        target: MAX_ROUND_TRIPS,
      },
      ...stats("connect + authenticate (pinned ed25519)", connects),
      ...stats("inject, content changed (swap + restart)", changed),
      ...stats("inject, content unchanged (start no-op)", unchanged),
    ];
  } finally {
    await machine.close();
  }
}

if (import.meta.main) {
  const unavailable = sshdUnavailableReason();
  if (unavailable !== null) {
    console.error(`inject bench needs a real sshd: ${unavailable}`);
    process.exit(1);
  }
  const met = printFigures(
    `secret injection (${rounds} rounds, real sshd on loopback)`,
    await runInjectBench(),
  );
  process.exit(met ? 0 : 1);
}
