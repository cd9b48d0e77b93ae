/**
 * Builds the root filesystem from Debian packages with mmdebstrap (minbase variant), adds smolvm's boot
 * scripts, and writes it into an ext4 image with `mke2fs -d` (no mount, no loop device). mmdebstrap's
 * root mode is used: it is the one that yields a directory with real ownership for mke2fs to copy.
 */
import { existsSync } from "node:fs";
import { mkdir, copyFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { exec } from "../host/exec.js";
import { ImageError } from "../errors.js";
import { GUEST_ASSETS_DIR, type ImageSpec } from "./spec.js";

/** The host's apt sources when they are Debian's, so the guest comes from the same mirror. */
function mirrorArg(): string {
  for (const f of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (existsSync(f)) return f;
  }
  return "http://deb.debian.org/debian";
}

const TRIM = [
  "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/doc/*", "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias", "path-exclude=/usr/share/lintian/*",
];

export async function buildRootfs(opts: {
  spec: ImageSpec;
  busybox: string;
  work: string;
  out: string;
  onProgress: (line: string) => void;
}): Promise<void> {
  const stage = join(opts.work, "stage");
  await mkdir(stage, { recursive: true });
  await mkdir(join(stage, "bb"), { recursive: true });
  // busybox picks its applet from argv[0], so the binary must keep the name "busybox".
  await copyFile(opts.busybox, join(stage, "bb", "busybox"));
  for (const f of ["smol-boot", "smol-init"]) {
    await copyFile(join(GUEST_ASSETS_DIR, f), join(stage, f));
    await chmod(join(stage, f), 0o755);
  }
  await copyFile(join(GUEST_ASSETS_DIR, "inittab"), join(stage, "inittab"));
  await chmod(join(stage, "bb", "busybox"), 0o755);
  if (process.getuid?.() !== 0) {
    throw new ImageError("Building the guest image needs root (mmdebstrap); run \"sudo smolvm image build\" once, or point SMOLVM_IMAGE_DIR at an image built by root.");
  }
  const tree = join(opts.work, "tree");
  await exec(
    "mmdebstrap",
    [
      "--variant=minbase",
      "--quiet",
      `--include=${opts.spec.packages.join(",")}`,
      "--aptopt=Acquire::Languages \"none\"",
      ...TRIM.map((t) => `--dpkgopt=${t}`),
      `--customize-hook=copy-in ${join(stage, "smol-boot")} ${join(stage, "smol-init")} /sbin`,
      `--customize-hook=mkdir -p "$1/usr/lib/smolvm"`,
      `--customize-hook=copy-in ${join(stage, "bb", "busybox")} /usr/lib/smolvm`,
      `--customize-hook=copy-in ${join(stage, "inittab")} /etc`,
      // dash as root's shell: every command is a fresh shell, and bash costs far more to start under TCG.
      `--customize-hook=sed -i -e 's#^root:\\([^:]*\\):0:0:\\([^:]*\\):/root:.*#root:\\1:0:0:\\2:/root:/bin/sh#' "$1/etc/passwd"`,
      `--customize-hook=mkdir -p "$1/etc/smolvm" && : > "$1/etc/smolvm/env.sh"`,
      // Never ship the host's resolver: lookups would hang (and point at a host-side address).
      `--customize-hook=rm -f "$1/etc/resolv.conf" && : > "$1/etc/resolv.conf"`,
      `--customize-hook=printf '127.0.0.1 localhost\\n::1 localhost ip6-localhost ip6-loopback\\n' > "$1/etc/hosts"`,
      `--customize-hook=rm -rf "$1/var/cache/apt/"*.bin "$1/var/lib/apt/lists/"*_Packages`,
      opts.spec.suite,
      tree,
      mirrorArg(),
    ],
    { onStderr: (c) => c.split("\n").filter(Boolean).forEach((l) => opts.onProgress(`mmdebstrap: ${l}`)) },
  );
  await exec("mke2fs", [
    "-q", "-t", "ext4", "-O", "^has_journal", "-L", "smolroot", "-E", "lazy_itable_init=0,nodiscard",
    "-d", tree, opts.out, `${opts.spec.rootfsSizeMib}M`,
  ]);
}
