/** The QEMU backend: launches `qemu-system-x86_64 -M microvm` as a detached process that outlives us. */
import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { HostError } from "../errors.js";
import { processStartTime, terminate } from "../host/process.js";
import { logger } from "../log.js";
import { qemuArgs } from "./qemu-args.js";
import type { LaunchedVm, LaunchSpec, Vmm } from "./vmm.js";

const log = logger("vmm");
export const QEMU_BINARY = process.env.SMOLVM_QEMU || "qemu-system-x86_64";

export class QemuVmm implements Vmm {
  readonly name = "qemu";

  async launch(spec: LaunchSpec): Promise<LaunchedVm> {
    const args = qemuArgs(spec);
    const [file, argv] = spec.netns
      ? ["ip", ["netns", "exec", spec.netns, QEMU_BINARY, ...args]] // ip execs QEMU in place: same pid
      : [QEMU_BINARY, args];
    log("launch %s: %s %s", spec.vmId, file, argv.join(" "));
    const out = openSync(spec.vmmLogPath, "a");
    try {
      const child = spawn(file, argv, { detached: true, stdio: ["ignore", out, out] });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once("spawn", () => resolve(child.pid!));
        child.once("error", (e: NodeJS.ErrnoException) =>
          reject(
            e.code === "ENOENT"
              ? new HostError(`${file} is not installed; run "smolvm setup" (it installs qemu-system-x86).`, { cause: e })
              : e,
          ),
        );
      });
      child.unref(); // the VM outlives this process: the CLI exits, the VM keeps running
      const startTime = processStartTime(pid);
      if (startTime === undefined) throw new HostError(`QEMU exited at once; see ${spec.vmmLogPath}.`);
      return { process: { pid, startTime } };
    } finally {
      closeSync(out);
    }
  }

  async kill(vm: LaunchedVm): Promise<void> {
    // SIGTERM makes QEMU close its block devices cleanly (qcow2 metadata is flushed), then exit.
    await terminate(vm.process, 2000);
  }
}
