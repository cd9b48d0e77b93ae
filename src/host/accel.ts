/**
 * Chooses the accelerator. KVM only where it really runs a stock guest kernel: a paravirtual
 * `kvm_pvm` host exposes /dev/kvm but cannot (QEMU dies with a KVM internal error), so it gets TCG.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";

export type Accelerator = "kvm" | "tcg";

export interface AcceleratorChoice {
  accel: Accelerator;
  reason: string;
}

/** Decides between KVM and TCG. `SMOLVM_ACCEL=kvm|tcg` overrides the probe. */
export function chooseAccelerator(env: NodeJS.ProcessEnv = process.env): AcceleratorChoice {
  const forced = env.SMOLVM_ACCEL;
  if (forced === "kvm" || forced === "tcg") return { accel: forced, reason: `SMOLVM_ACCEL=${forced}` };
  if (!existsSync("/dev/kvm")) return { accel: "tcg", reason: "/dev/kvm does not exist (no hardware virtualisation exposed)" };
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { accel: "tcg", reason: "/dev/kvm is not writable by this user (add the user to the kvm group)" };
  }
  if (existsSync("/sys/module/kvm_pvm")) {
    return { accel: "tcg", reason: "/dev/kvm is kvm_pvm (paravirtual KVM), which cannot run a stock guest kernel" };
  }
  if (existsSync("/sys/module/kvm_intel") || existsSync("/sys/module/kvm_amd")) {
    return { accel: "kvm", reason: "/dev/kvm is usable (kvm_intel/kvm_amd loaded)" };
  }
  return { accel: "tcg", reason: "/dev/kvm has no kvm_intel or kvm_amd module behind it" };
}

let tscCache: number | undefined;

/**
 * The host TSC frequency in kHz. Under TCG the guest reads the host TSC, and telling the kernel its
 * rate (`tsc_early_khz`) avoids the PIT calibration that hangs about one boot in four on microvm.
 */
export function hostTscKhz(): number | undefined {
  if (tscCache !== undefined) return tscCache;
  try {
    const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) tscCache = Math.round(Number(m[1]) * 1000);
  } catch {
    // Not Linux or no /proc: leave undefined, the kernel calibrates itself.
  }
  return tscCache;
}
