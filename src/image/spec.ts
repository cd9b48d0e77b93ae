/**
 * What the default guest image is made of, and the fingerprint of those inputs that keys its cache entry.
 * Changing anything here (or a file under guest/) produces a new fingerprint and so a rebuild.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** Bumped when the build procedure itself changes in a way the inputs below do not show. */
const FORMAT = 3;

/** The folder holding the guest-side scripts shipped with the package. */
export const GUEST_ASSETS_DIR = fileURLToPath(new URL("../../guest/", import.meta.url));

export interface ImageSpec {
  name: string;
  suite: string;
  kernelPackage: string;
  /** Packages installed into the root filesystem on top of Debian's minbase variant. */
  packages: string[];
  /** Size of the root filesystem in MiB (sparse: unused space costs no disk). */
  rootfsSizeMib: number;
  /** Guest scripts that end up in the image, by file name under `guest/`. */
  assets: string[];
}

export const DEFAULT_IMAGE: ImageSpec = {
  name: "default",
  suite: "bookworm",
  kernelPackage: "linux-image-cloud-amd64",
  packages: ["dropbear-bin", "python3", "iproute2", "busybox", "procps"],
  rootfsSizeMib: 2048,
  assets: ["initramfs-init", "inittab", "smol-boot", "smol-init"],
};

/** The modules the initramfs loads, in dependency order (Debian's cloud kernel builds virtio as modules). */
export const INITRAMFS_MODULES = [
  "virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net", "virtio_blk", "virtio-rng",
];

/** A short hex digest of everything that determines the image's contents. */
export function fingerprint(spec: ImageSpec): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ FORMAT, ...spec, modules: INITRAMFS_MODULES }));
  for (const asset of spec.assets) h.update(readFileSync(join(GUEST_ASSETS_DIR, asset)));
  return h.digest("hex").slice(0, 12);
}
