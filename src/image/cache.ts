/**
 * The on-disk image cache: `<images>/<name>-<fingerprint>/` holding vmlinux, initramfs.cpio,
 * rootfs.ext4 and manifest.json. An entry exists only once complete: builds write to a temporary
 * folder and rename it into place, so an interrupted build leaves no half image.
 */
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/** A built guest image, ready to boot. */
export interface GuestImage {
  name: string;
  fingerprint: string;
  dir: string;
  kernelPath: string;
  initrdPath: string;
  rootfsPath: string;
  /** Resolved package versions and build facts, as recorded at build time. */
  manifest: ImageManifest;
}

export interface ImageManifest {
  name: string;
  fingerprint: string;
  builtAt: string;
  buildMs: number;
  kernel: { package: string; version: string };
  busybox: { version: string };
  suite: string;
  packages: string[];
}

export function imageDir(imagesDir: string, name: string, fp: string): string {
  return join(imagesDir, `${name}-${fp}`);
}

export function imageAt(dir: string, manifest: ImageManifest): GuestImage {
  return {
    name: manifest.name,
    fingerprint: manifest.fingerprint,
    dir,
    kernelPath: join(dir, "vmlinux"),
    initrdPath: join(dir, "initramfs.cpio"),
    rootfsPath: join(dir, "rootfs.ext4"),
    manifest,
  };
}

/** Reads one cache entry; undefined when it is missing or incomplete. */
export async function readImage(dir: string): Promise<GuestImage | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as ImageManifest;
    return imageAt(dir, manifest);
  } catch {
    return undefined;
  }
}

/** Every complete image in the cache, with its size on disk. */
export async function listImages(imagesDir: string): Promise<Array<GuestImage & { diskBytes: number }>> {
  let names: string[];
  try {
    names = await readdir(imagesDir);
  } catch {
    return [];
  }
  const out: Array<GuestImage & { diskBytes: number }> = [];
  for (const n of names.filter((n) => !n.startsWith("."))) {
    const img = await readImage(join(imagesDir, n));
    if (!img) continue;
    let diskBytes = 0;
    for (const f of [img.kernelPath, img.initrdPath, img.rootfsPath]) diskBytes += (await stat(f)).blocks * 512;
    out.push({ ...img, diskBytes });
  }
  return out;
}

export async function removeImage(img: GuestImage): Promise<void> {
  await rm(img.dir, { recursive: true, force: true });
}
