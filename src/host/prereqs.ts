/** Host prerequisites: what must be installed, how to install it, and whether it is there. */
import { execAllowFail } from "./exec.js";

/** Debian packages smolvm needs on the host, and the command each one provides. */
export const HOST_PACKAGES: Array<{ pkg: string; binary: string; why: string }> = [
  { pkg: "qemu-system-x86", binary: "qemu-system-x86_64", why: "runs the microVMs" },
  { pkg: "qemu-utils", binary: "qemu-img", why: "creates each VM's copy-on-write disk" },
  { pkg: "mmdebstrap", binary: "mmdebstrap", why: "builds the guest root filesystem from Debian packages" },
  { pkg: "e2fsprogs", binary: "mke2fs", why: "writes the root filesystem image" },
  { pkg: "cpio", binary: "cpio", why: "packs the initramfs" },
  { pkg: "lz4", binary: "lz4", why: "unpacks the kernel to an uncompressed vmlinux" },
  { pkg: "iproute2", binary: "ip", why: "network namespaces, veth and TAP devices" },
  { pkg: "nftables", binary: "nft", why: "localhost port forwarding in privileged mode" },
  { pkg: "openssh-client", binary: "ssh", why: "interactive `smolvm ssh`" },
  { pkg: "procps", binary: "ps", why: "process checks in the test suite" },
];

export function aptInstallCommand(pkgs = HOST_PACKAGES.map((p) => p.pkg)): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${pkgs.join(" ")}`;
}

/** Resolves a command on PATH (including sbin, where Debian puts ip and nft). */
export async function which(binary: string): Promise<string | undefined> {
  const path = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
  const r = await execAllowFail("sh", ["-c", `command -v ${binary}`], { env: { ...process.env, PATH: path } });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

export async function missingPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const p of HOST_PACKAGES) if (!(await which(p.binary))) missing.push(p.pkg);
  return missing;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
