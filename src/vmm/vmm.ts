/**
 * The VMM interface: what smolvm needs from a hypervisor backend. QEMU implements it today;
 * Firecracker can later, behind the same shape.
 */
import type { Accelerator } from "../host/accel.js";
import type { ProcessRef } from "../host/process.js";

/** How the guest's single NIC is wired, as the network module decided. */
export type NicSpec =
  | { kind: "user"; sshHostPort: number; internet?: boolean; hostForwards?: Array<{ hostPort: number; guestPort: number }> }
  | { kind: "tap"; ifname: string; mac: string };

/** Everything needed to launch one VM. */
export interface LaunchSpec {
  vmId: string;
  kernelPath: string;
  initrdPath?: string;
  /** The per-VM copy-on-write disk (qcow2 over the read-only base image). */
  diskPath: string;
  memSizeMib: number;
  vcpuCount: number;
  accel: Accelerator;
  /** Kernel command line, complete (console, smol.* words, user boot args). */
  cmdline: string;
  nic: NicSpec;
  serialLogPath: string;
  qmpSocketPath: string;
  vmmLogPath: string;
  /** Network namespace to run the VMM in (privileged networking), if any. */
  netns?: string;
}

/** A launched VMM process. */
export interface LaunchedVm {
  process: ProcessRef;
}

export interface Vmm {
  readonly name: string;
  launch(spec: LaunchSpec): Promise<LaunchedVm>;
  /** Stops the VM for good; resolves when its process is gone. Idempotent. */
  kill(vm: LaunchedVm, qmpSocketPath: string): Promise<void>;
}
