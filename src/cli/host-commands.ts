/** CLI commands for the host and images: setup, doctor, image build|ls|rm. */
import type { Command } from "commander";
import { doctor } from "../index.js";
import { ensureImage, listImages, removeImage } from "../build.js";
import { aptInstallCommand, isRoot, missingPackages } from "../host/prereqs.js";
import { exec } from "../host/exec.js";
import { resolvePaths } from "../paths.js";
import { printJson, printTable, progress } from "./output.js";

export function registerHostCommands(program: Command): void {
  program
    .command("setup")
    .description("install host prerequisites through apt (as root; otherwise prints the apt command) and build the default image")
    .option("--no-image", "skip building the guest image")
    .action(async (o: { image: boolean }) => {
      const missing = await missingPackages();
      if (missing.length && !isRoot()) {
        progress(`Missing host packages: ${missing.join(", ")}. Run as root:\n  sudo ${aptInstallCommand(missing)}`);
        process.exitCode = 1;
        return;
      }
      if (isRoot()) {
        // apt-get update always: building the image downloads the kernel through apt.
        progress("Updating apt package lists...");
        await exec("apt-get", ["update", "-qq"], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
        if (missing.length) {
          progress(`Installing ${missing.join(", ")}...`);
          await exec("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
        }
      }
      progress("Host packages: ok.");
      if (o.image) {
        const img = await ensureImage({ imagesDir: resolvePaths().images, onProgress: progress });
        progress(`Guest image: ${img.name}-${img.fingerprint}.`);
      }
    });

  program
    .command("doctor")
    .description("report QEMU, the accelerator and why, networking ability and the image cache, each with a fix")
    .option("--json", "print the report as JSON")
    .action(async (o: { json?: boolean }) => {
      const report = await doctor();
      if (o.json) printJson(report);
      else {
        for (const c of report.checks) {
          process.stdout.write(`${c.ok ? "ok  " : "FAIL"}  ${c.name.padEnd(12)} ${c.detail}\n`);
          if (c.fix) process.stdout.write(`      ${"".padEnd(12)} fix: ${c.fix}\n`);
        }
      }
      if (!report.ok) process.exitCode = 1;
    });

  const image = program.command("image").description("manage guest images");
  image
    .command("build")
    .description("build the default guest image (cached; rebuilt only when its inputs change)")
    .option("--force", "rebuild even if cached")
    .option("--json", "print the image as JSON")
    .action(async (o: { force?: boolean; json?: boolean }) => {
      const img = await ensureImage({ imagesDir: resolvePaths().images, force: o.force, onProgress: progress });
      if (o.json) printJson(img);
      else process.stdout.write(`${img.name}-${img.fingerprint}  ${img.dir}\n`);
    });
  image
    .command("ls")
    .description("list cached images")
    .option("--json", "print as JSON")
    .action(async (o: { json?: boolean }) => {
      const imgs = await listImages(resolvePaths().images);
      if (o.json) printJson(imgs);
      else
        printTable(
          imgs.map((i) => ({ image: `${i.name}-${i.fingerprint}`, kernel: i.manifest.kernel.version, size: `${Math.round(i.diskBytes / 1048576)} MiB`, built: i.manifest.builtAt })),
          ["image", "kernel", "size", "built"],
        );
    });
  image
    .command("rm [image]")
    .description("remove a cached image (name-fingerprint, or fingerprint)")
    .option("--all", "remove every cached image")
    .action(async (ref: string | undefined, o: { all?: boolean }) => {
      if (!ref && !o.all) throw new TypeError("image rm needs an image (see smolvm image ls) or --all");
      const imgs = await listImages(resolvePaths().images);
      const hit = o.all ? imgs : imgs.filter((i) => ref === `${i.name}-${i.fingerprint}` || ref === i.fingerprint);
      if (!hit.length) throw new RangeError(`image ${JSON.stringify(ref)} is not in the cache; see "smolvm image ls"`);
      for (const i of hit) {
        await removeImage(i);
        progress(`Removed ${i.name}-${i.fingerprint}.`);
      }
    });
}
