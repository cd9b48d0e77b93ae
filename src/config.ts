/** `VMConfig`: plain data describing a VM, validated and defaulted in one place. */
import { randomBytes } from "node:crypto";

/** How the VM is networked. */
export type NetworkMode = "auto" | "user" | "tap";

/** What a VM is made of. Every field is optional. */
export interface VMConfig {
  /** Unique name; letters, digits and dashes, 1-40 characters. @default "vm-" + 8 random hex digits */
  vmId?: string;
  /** Guest RAM. @default 512 */
  memSizeMib?: number;
  /** Virtual CPUs. @default 1 */
  vcpuCount?: number;
  /** Your own kernel (uncompressed vmlinux or bzImage). @default the built-in image's kernel */
  kernelPath?: string;
  /** Your own initramfs; with a custom kernel and none given, the kernel boots the rootfs directly. */
  initrdPath?: string;
  /** Your own root filesystem image (raw ext4); never modified, the VM writes to a copy-on-write layer. */
  rootfsPath?: string;
  /** Extra kernel command line words, appended after smolvm's own. See `SSH_BOOT_ARGS` in `smolvm/build`. */
  bootArgs?: string;
  /**
   * `"user"`: QEMU user networking with `restrict=on` (no privileges, no egress, SSH forwarded to 127.0.0.1).
   * `"tap"`: the VM's own network namespace with a TAP device and a veth to the host (root or CAP_NET_ADMIN);
   * enables the nftables port-forward transport. `"auto"`: tap when privileged, else user.
   * @default "auto"
   */
  network?: NetworkMode;
  /** How long `start()` waits for the guest to answer SSH. @default 60000 */
  bootTimeoutMs?: number;
  /**
   * Let the guest reach out (NAT). Off by default: a sandbox starts with no way out. In tap mode this
   * needs IP forwarding on the host (smolvm turns it on while such a VM runs, and back off after, if it was
   * off; a host firewall that drops forwarded traffic, as Docker's does, still wins). In user mode it also
   * opens slirp's path to the host's loopback services at 10.0.2.2.
   * @default false
   */
  internet?: boolean;
}

/** A config with every default filled in. */
export type ResolvedConfig = Required<Omit<VMConfig, "kernelPath" | "initrdPath" | "rootfsPath" | "bootArgs">> &
  Pick<VMConfig, "kernelPath" | "initrdPath" | "rootfsPath" | "bootArgs">;

const VM_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/;

function intInRange(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer ${min}-${max}, got ${JSON.stringify(value)} (${typeof value})`);
  }
  if (value < min || value > max) throw new RangeError(`${name} must be ${min}-${max}, got ${value}`);
  return value;
}

function optionalString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new TypeError(`${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

export function validateVmId(value: unknown, name = "vmId"): string {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string, got ${typeof value}`);
  if (!VM_ID.test(value)) {
    throw new RangeError(`${name} must be 1-40 letters, digits or dashes, starting with a letter or digit, got ${JSON.stringify(value)}`);
  }
  return value;
}

const KNOWN = new Set(["vmId", "memSizeMib", "vcpuCount", "kernelPath", "initrdPath", "rootfsPath", "bootArgs", "network", "bootTimeoutMs", "internet"]);

/** Validates a user config and fills in the defaults. Throws TypeError/RangeError naming the field. */
export function resolveConfig(input: VMConfig = {}): ResolvedConfig {
  if (typeof input !== "object" || input === null) throw new TypeError(`config must be an object, got ${input === null ? "null" : typeof input}`);
  for (const key of Object.keys(input)) if (!KNOWN.has(key)) throw new TypeError(`Unknown VMConfig option ${JSON.stringify(key)}`);
  const c = Object.assign(Object.create(null), input) as VMConfig;
  const network = c.network ?? "auto";
  if (!["auto", "user", "tap"].includes(network)) throw new RangeError(`network must be "auto", "user" or "tap", got ${JSON.stringify(network)}`);
  const bootArgs = c.bootArgs === undefined ? undefined : String(c.bootArgs);
  if (typeof c.bootArgs !== "undefined" && typeof c.bootArgs !== "string") throw new TypeError(`bootArgs must be a string, got ${typeof c.bootArgs}`);
  if (c.internet !== undefined && typeof c.internet !== "boolean") throw new TypeError(`internet must be a boolean, got ${typeof c.internet}`);
  if (c.initrdPath !== undefined && c.kernelPath === undefined) throw new TypeError("initrdPath needs kernelPath: give both, or neither");
  return {
    vmId: c.vmId === undefined ? `vm-${randomBytes(4).toString("hex")}` : validateVmId(c.vmId),
    memSizeMib: intInRange("memSizeMib", c.memSizeMib ?? 512, 128, 65536),
    vcpuCount: intInRange("vcpuCount", c.vcpuCount ?? 1, 1, 64),
    kernelPath: optionalString("kernelPath", c.kernelPath),
    initrdPath: optionalString("initrdPath", c.initrdPath),
    rootfsPath: optionalString("rootfsPath", c.rootfsPath),
    bootArgs,
    network,
    bootTimeoutMs: intInRange("bootTimeoutMs", c.bootTimeoutMs ?? 60_000, 1000, 3_600_000),
    internet: c.internet ?? false,
  };
}
