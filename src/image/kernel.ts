/**
 * Fetches Debian's cloud kernel package through apt and extracts what a microVM boots: the
 * uncompressed `vmlinux` (QEMU boots it directly through its PVH note, skipping decompression)
 * and the virtio modules the initramfs loads.
 */
import { readFile, writeFile, readdir, copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { exec } from "../host/exec.js";
import { ImageError } from "../errors.js";

/** Resolves a (meta) package to the concrete package apt would install, with its version. */
export async function resolvePackage(name: string): Promise<{ name: string; version: string }> {
  const { stdout } = await exec("apt-cache", ["show", "--no-all-versions", name]).catch((e) => {
    throw new ImageError(`Cannot find Debian package ${name}; run "apt-get update" (or "smolvm setup") and retry.`, { cause: e });
  });
  const version = /^Version: (.+)$/m.exec(stdout)?.[1];
  if (!version) throw new ImageError(`apt knows no version of ${name}; run "apt-get update" and retry.`);
  const kernelDep = /^Depends: .*?(linux-image-[0-9][^ ,]*)/m.exec(stdout)?.[1];
  if (name.startsWith("linux-image-") && kernelDep) return resolvePackage(kernelDep);
  return { name, version };
}

/** Downloads one package's .deb into `dir` and unpacks it into `dir/root`; returns that root. */
export async function downloadAndExtract(pkg: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await exec("apt-get", ["download", "-q", pkg], { cwd: dir });
  const deb = (await readdir(dir)).find((f) => f.endsWith(".deb"));
  if (!deb) throw new ImageError(`apt-get download ${pkg} produced no .deb; check the apt sources and retry.`);
  const root = join(dir, "root");
  await exec("dpkg-deb", ["-x", join(dir, deb), root]);
  return root;
}

const LZ4_MAGIC = Buffer.from([0x02, 0x21, 0x4c, 0x18]);

/** Unpacks the LZ4-compressed payload of a bzImage into an ELF vmlinux. */
export async function extractVmlinux(vmlinuz: string, out: string): Promise<void> {
  const image = await readFile(vmlinuz);
  const at = image.indexOf(LZ4_MAGIC);
  if (at < 0) throw new ImageError(`No LZ4 payload in ${vmlinuz}; the kernel package is not the expected Debian cloud kernel.`);
  const { stdout } = await execBinary("lz4", ["-dc"], image.subarray(at));
  if (stdout.subarray(0, 4).toString("latin1") !== "\x7fELF") throw new ImageError(`Decompressed ${vmlinuz} is not an ELF image.`);
  await writeFile(out, stdout);
}

async function execBinary(file: string, args: string[], input: Buffer): Promise<{ stdout: Buffer }> {
  const { spawn } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "ignore"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", reject);
    child.stdin.on("error", () => {}); // lz4 stops reading at the end of its frame
    child.on("close", () => resolve({ stdout: Buffer.concat(chunks) }));
    child.stdin.end(input);
  });
}

/** Copies the named modules (flat, `<name>.ko`) from an unpacked kernel package. */
export async function copyModules(kernelRoot: string, names: string[], outDir: string): Promise<void> {
  const [release] = await readdir(join(kernelRoot, "lib/modules"));
  const index = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith(".ko")) index.set(e.name.slice(0, -3), p);
    }
  };
  await walk(join(kernelRoot, "lib/modules", release!, "kernel"));
  await mkdir(outDir, { recursive: true });
  for (const name of names) {
    const src = index.get(name);
    if (!src) throw new ImageError(`Kernel module ${name} is missing from the kernel package.`);
    await copyFile(src, join(outDir, `${name}.ko`));
  }
}
