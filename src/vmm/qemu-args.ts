/** Builds the QEMU command line for a microVM. Pure, so it is unit-tested. */
import type { LaunchSpec } from "./vmm.js";

/**
 * TCG translation cache cap in MiB. QEMU's default (1 GiB) grows with the guest's code footprint and
 * pushes RSS far past guest RAM; 64 MiB keeps an idle 256 MiB VM near 250 MB.
 */
export const TCG_TB_SIZE_MIB = 64;

export function qemuArgs(spec: LaunchSpec): string[] {
  const args = [
    "-M", "microvm",
    ...(spec.accel === "kvm"
      ? ["-accel", "kvm", "-cpu", "host"]
      : // +arat lets the guest go tickless; without it every idle VM burns ~5% of a core.
        ["-accel", `tcg,tb-size=${TCG_TB_SIZE_MIB}`, "-cpu", "qemu64,+arat"]),
    "-m", String(spec.memSizeMib),
    "-smp", String(spec.vcpuCount),
    "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
    "-name", `smolvm-${spec.vmId},process=smolvm-${spec.vmId}`,
    "-kernel", spec.kernelPath,
    ...(spec.initrdPath ? ["-initrd", spec.initrdPath] : []),
    "-append", spec.cmdline,
    "-serial", `file:${spec.serialLogPath}`,
    "-qmp", `unix:${spec.qmpSocketPath},server=on,wait=off`,
    "-device", "virtio-rng-device",
    "-drive", `id=root,if=none,format=qcow2,file=${spec.diskPath},cache=unsafe,discard=unmap`,
    "-device", "virtio-blk-device,drive=root",
  ];
  if (spec.nic.kind === "user") {
    // restrict=on: no egress and no path to the host's loopback services; only the forwards below.
    const restrict = spec.nic.internet ? "off" : "on";
    const fwds = [`hostfwd=tcp:127.0.0.1:${spec.nic.sshHostPort}-:22`];
    for (const f of spec.nic.hostForwards ?? []) fwds.push(`hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`);
    args.push("-netdev", `user,id=n0,restrict=${restrict},${fwds.join(",")}`, "-device", "virtio-net-device,netdev=n0");
  } else {
    args.push(
      "-netdev", `tap,id=n0,ifname=${spec.nic.ifname},script=no,downscript=no`,
      "-device", `virtio-net-device,netdev=n0,mac=${spec.nic.mac}`,
    );
  }
  return args;
}

/** The kernel command line smolvm boots with: console, boot speed-ups and the smol.* words. */
export function kernelCmdline(opts: {
  accel: "kvm" | "tcg";
  tscKhz?: number;
  smol: Record<string, string>;
  extra?: string;
}): string {
  const parts = ["console=ttyS0", "panic=-1", "quiet"];
  if (opts.accel === "tcg" && opts.tscKhz) parts.push(`tsc_early_khz=${opts.tscKhz}`);
  for (const [k, v] of Object.entries(opts.smol)) parts.push(`smol.${k}=${v}`);
  if (opts.extra) parts.push(opts.extra);
  return parts.join(" ");
}
