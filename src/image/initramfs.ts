/** Builds the initramfs: a static busybox, the virtio modules and `/init` (guest/initramfs-init). */
import { mkdir, copyFile, symlink, chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { exec } from "../host/exec.js";
import { copyModules } from "./kernel.js";
import { GUEST_ASSETS_DIR, INITRAMFS_MODULES } from "./spec.js";

/** Lays out the initramfs tree in `tree` and packs it into an uncompressed newc cpio at `out`. */
export async function buildInitramfs(opts: { busybox: string; kernelRoot: string; tree: string; out: string }): Promise<void> {
  const { tree } = opts;
  for (const d of ["bin", "dev", "proc", "sys", "newroot", "lib/modules"]) await mkdir(join(tree, d), { recursive: true });
  await copyFile(opts.busybox, join(tree, "bin/busybox"));
  await chmod(join(tree, "bin/busybox"), 0o755);
  const { stdout } = await exec(opts.busybox, ["--list"]);
  for (const applet of stdout.split("\n").filter((a) => a && a !== "busybox")) {
    await symlink("busybox", join(tree, "bin", applet));
  }
  await copyModules(opts.kernelRoot, INITRAMFS_MODULES, join(tree, "lib/modules"));
  await copyFile(join(GUEST_ASSETS_DIR, "initramfs-init"), join(tree, "init"));
  await chmod(join(tree, "init"), 0o755);
  await writeFile(join(tree, "dev/.keep"), "");
  await packCpio(tree, opts.out);
}

/** `find . | cpio -o -H newc -R 0:0`, without a shell. An uncompressed archive unpacks fastest under TCG. */
async function packCpio(tree: string, out: string): Promise<void> {
  const { stdout: list } = await exec("find", [".", "-mindepth", "1"], { cwd: tree });
  await new Promise<void>((resolve, reject) => {
    const cpio = spawn("cpio", ["--quiet", "-o", "-H", "newc", "-R", "0:0"], { cwd: tree, stdio: ["pipe", "pipe", "inherit"] });
    const sink = createWriteStream(out);
    cpio.stdout.pipe(sink);
    cpio.on("error", reject);
    sink.on("finish", () => (cpio.exitCode === 0 || cpio.exitCode === null ? resolve() : reject(new Error(`cpio exited ${cpio.exitCode}`))));
    cpio.stdin.end(list.split("\n").filter(Boolean).join("\n") + "\n");
  });
}
