/**
 * Ensures the guest image exists: finds it in the cache by fingerprint, or builds it
 * (kernel → initramfs → rootfs → manifest) in a temporary folder and renames it into place.
 */
import { mkdir, mkdtemp, rename, rm, writeFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ImageError } from "../errors.js";
import { logger } from "../log.js";
import { imageAt, imageDir, readImage, type GuestImage, type ImageManifest } from "./cache.js";
import { downloadAndExtract, extractVmlinux, resolvePackage } from "./kernel.js";
import { buildInitramfs } from "./initramfs.js";
import { buildRootfs } from "./rootfs.js";
import { DEFAULT_IMAGE, fingerprint, type ImageSpec } from "./spec.js";

const log = logger("image");

/** Progress of a long step, for the CLI to print on stderr. The library itself never prints. */
export type ProgressListener = (message: string) => void;

export interface EnsureImageOptions {
  imagesDir: string;
  spec?: ImageSpec;
  /** Rebuild even when a complete image with the same fingerprint is cached. */
  force?: boolean;
  onProgress?: ProgressListener;
}

/** Returns the cached image for the spec's fingerprint, building it first when it is missing. */
export async function ensureImage(opts: EnsureImageOptions): Promise<GuestImage> {
  const spec = opts.spec ?? DEFAULT_IMAGE;
  const fp = fingerprint(spec);
  const dir = imageDir(opts.imagesDir, spec.name, fp);
  if (!opts.force) {
    const cached = await readImage(dir);
    if (cached) return cached;
  }
  return buildImage(spec, fp, dir, opts);
}

/** The cached image for the spec, without building; undefined when missing. */
export async function findImage(imagesDir: string, spec: ImageSpec = DEFAULT_IMAGE): Promise<GuestImage | undefined> {
  return readImage(imageDir(imagesDir, spec.name, fingerprint(spec)));
}

async function buildImage(spec: ImageSpec, fp: string, dir: string, opts: EnsureImageOptions): Promise<GuestImage> {
  const progress = opts.onProgress ?? (() => {});
  const started = Date.now();
  await mkdir(opts.imagesDir, { recursive: true });
  const tmp = await mkdtemp(join(opts.imagesDir, `.build-${process.pid}-`));
  log("building image %s-%s in %s", spec.name, fp, tmp);
  try {
    const out = join(tmp, "out");
    await mkdir(out);
    progress(`Building guest image ${spec.name}-${fp} (Debian ${spec.suite}); this takes about a minute, once.`);
    const kernelPkg = await resolvePackage(spec.kernelPackage);
    const busyboxPkg = await resolvePackage("busybox-static");
    progress(`[1/4] kernel ${kernelPkg.name} ${kernelPkg.version}`);
    const kernelRoot = await downloadAndExtract(kernelPkg.name, join(tmp, "kernel"));
    const vmlinuz = (await readdir(join(kernelRoot, "boot"))).find((f) => f.startsWith("vmlinuz-"));
    if (!vmlinuz) throw new ImageError(`${kernelPkg.name} contains no vmlinuz.`);
    await extractVmlinux(join(kernelRoot, "boot", vmlinuz), join(out, "vmlinux"));
    progress(`[2/4] initramfs (busybox-static ${busyboxPkg.version}, virtio modules)`);
    const bbRoot = await downloadAndExtract("busybox-static", join(tmp, "busybox"));
    const busybox = join(bbRoot, "bin/busybox");
    await buildInitramfs({ busybox, kernelRoot, tree: join(tmp, "initramfs"), out: join(out, "initramfs.cpio") });
    progress(`[3/4] root filesystem: ${spec.packages.join(", ")}`);
    await buildRootfs({ spec, busybox, work: join(tmp, "rootfs"), out: join(out, "rootfs.ext4"), onProgress: progress });
    const manifest: ImageManifest = {
      name: spec.name,
      fingerprint: fp,
      builtAt: new Date().toISOString(),
      buildMs: Date.now() - started,
      kernel: { package: kernelPkg.name, version: kernelPkg.version },
      busybox: { version: busyboxPkg.version },
      suite: spec.suite,
      packages: spec.packages,
    };
    await writeFile(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    progress(`[4/4] publishing to ${dir}`);
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(out, dir);
    } catch (e) {
      // Another process published the same fingerprint first: its image is as good as ours.
      const theirs = await readImage(dir);
      if (theirs) return theirs;
      throw e;
    }
    log("built image %s in %d ms", dir, manifest.buildMs);
    progress(`Guest image ready in ${(manifest.buildMs / 1000).toFixed(1)} s.`);
    return imageAt(dir, manifest);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
