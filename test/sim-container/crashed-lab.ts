/**
 * `bun crashed-lab.ts`: makes a lab with one machine namespace and a process inside each, prints the
 * lab's namespace and the two pids as JSON, then waits to be killed (SIGKILL: nothing gets cleaned up).
 */
import { createLab } from "../../sim/container/lab.ts";

const lab = await createLab();
const netns = await lab.attach("9", "10.9.0.1");
const inLab = lab.spawn(["sleep", "600"]);
const inMachine = Bun.spawn(["nsenter", `--net=${netns}`, "--", "sleep", "600"], { stdin: "ignore" });
console.log(JSON.stringify({ netns: lab.netns, pids: [inLab.pid, inMachine.pid] }));
await Bun.sleep(600_000);
