/** CLI commands for VM lifecycle: create, list, run, ssh, stop, delete, logs, once. */
import { spawn } from "node:child_process";
import { existsSync, createReadStream, watch } from "node:fs";
import type { Command } from "commander";
import { SmolVM, VMNotFoundError, type NetworkMode } from "../index.js";
import { EXIT, intOption, printJson, printTable, progress } from "./output.js";

const LIST_COLUMNS = ["vmId", "status", "memSizeMib", "vcpuCount", "network", "sshPort", "pid", "createdAt"];

export function registerVmCommands(program: Command): void {
  program
    .command("create")
    .description("create and start a VM; it keeps running after this command exits")
    .option("--name <id>", "VM id (default: vm-<random>)")
    .option("--mem <mib>", "guest RAM in MiB (128-65536, default 512)", intOption("--mem"))
    .option("--vcpus <n>", "virtual CPUs (1-64, default 1)", intOption("--vcpus"))
    .option("--network <mode>", "auto | user | tap (default auto: tap when root)")
    .option("--json", "print the VM as JSON")
    .action(async (o: { name?: string; mem?: number; vcpus?: number; network?: NetworkMode; json?: boolean }) => {
      const started = Date.now();
      const vm = await SmolVM.create({ vmId: o.name, memSizeMib: o.mem, vcpuCount: o.vcpus, network: o.network }, { onProgress: progress });
      vm.close();
      if (o.json) printJson(vm.info());
      else process.stdout.write(`${vm.vmId}\n`);
      progress(`VM ${vm.vmId} is running (started in ${Date.now() - started} ms).`);
    });

  program
    .command("list")
    .alias("ls")
    .description("list VMs and their true status")
    .option("--json", "print as JSON")
    .action(async (o: { json?: boolean }) => {
      const vms = await SmolVM.list();
      if (o.json) printJson(vms);
      else printTable(vms as unknown as Array<Record<string, unknown>>, LIST_COLUMNS);
    });

  program
    .command("run <vm> <command...>")
    .description("run a shell command line in a VM; exits with the command's exit code (125 if it could not run)")
    .option("--timeout <ms>", "kill the command after this many milliseconds", intOption("--timeout"))
    .option("--json", "print { exitCode, stdout, stderr, durationMs } as JSON instead of streaming")
    .action(async (id: string, words: string[], o: { timeout?: number; json?: boolean }) => {
      const vm = await SmolVM.fromId(id);
      try {
        const r = await vm.run(words.join(" "), {
          timeoutMs: o.timeout,
          onStdout: o.json ? undefined : (c) => process.stdout.write(c),
          onStderr: o.json ? undefined : (c) => process.stderr.write(c),
          maxBufferBytes: o.json ? undefined : 0,
        });
        if (o.json) printJson(r);
        process.exitCode = r.exitCode;
      } catch (e) {
        process.exitCode = EXIT.commandCouldNotRun;
        throw e;
      } finally {
        vm.close();
      }
    });

  program
    .command("ssh <vm> [command...]")
    .description("open an interactive shell in a VM (OpenSSH client, pinned host key)")
    .action(async (id: string, words: string[]) => {
      const vm = await SmolVM.fromId(id);
      const ep = vm.sshEndpoint();
      const args = ["-q", "-i", ep.identityFile, "-p", String(ep.port), "-o", `UserKnownHostsFile=${ep.knownHostsFile}`,
        "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", `${ep.user}@${ep.host}`, ...words];
      const code = await new Promise<number>((resolve) => spawn("ssh", args, { stdio: "inherit" }).on("close", (c) => resolve(c ?? 1)));
      process.exitCode = code;
    });

  program
    .command("stop <vm>")
    .description("stop a VM (its disk is kept)")
    .action(async (id: string) => {
      await (await SmolVM.fromId(id)).stop();
      progress(`Stopped ${id}.`);
    });

  program
    .command("start <vm>")
    .description("start a stopped VM again")
    .action(async (id: string) => {
      const vm = await SmolVM.fromId(id, { onProgress: progress });
      await vm.start();
      vm.close();
      progress(`Started ${id}.`);
    });

  program
    .command("delete [vm]")
    .alias("rm")
    .description("stop and delete a VM, its disk and its record")
    .option("--all", "delete every VM")
    .action(async (id: string | undefined, o: { all?: boolean }) => {
      if (!id && !o.all) throw new TypeError("delete needs a VM id or --all");
      if (id && o.all) throw new TypeError("give either a VM id or --all, not both");
      const ids = o.all ? (await SmolVM.list()).map((v) => v.vmId) : [id!];
      for (const vmId of ids) {
        await (await SmolVM.fromId(vmId)).delete();
        progress(`Deleted ${vmId}.`);
      }
    });

  program
    .command("logs <vm>")
    .description("print a VM's serial console log")
    .option("-f, --follow", "keep printing as the console writes")
    .action(async (id: string, o: { follow?: boolean }) => {
      const vm = await SmolVM.fromId(id);
      const file = vm.consoleLogPath;
      if (!existsSync(file)) throw new VMNotFoundError(`VM ${id} has no console log yet; start it first.`, { vmId: id });
      let offset = 0;
      const dump = () =>
        new Promise<void>((resolve) => {
          const s = createReadStream(file, { start: offset });
          s.on("data", (c) => ((offset += c.length), process.stdout.write(c)));
          s.on("end", resolve);
          s.on("error", () => resolve());
        });
      await dump();
      if (o.follow) {
        watch(file, () => void dump());
        await new Promise(() => {});
      }
    });

  program
    .command("once [command...]")
    .description("boot a throwaway VM, run one command (default: uname -a), print the result and timings, delete it")
    .option("--json", "print the result and timings as JSON")
    .action(async (words: string[], o: { json?: boolean }) => {
      const command = words.length ? words.join(" ") : "uname -a";
      const t0 = performance.now();
      await using vm = await SmolVM.create({}, { onProgress: progress });
      const bootMs = performance.now() - t0;
      const r = await vm.run(command);
      const runMs = performance.now() - t0 - bootMs;
      const t1 = performance.now();
      await vm.delete();
      const deleteMs = performance.now() - t1;
      const timings = { bootMs: Math.round(bootMs), commandMs: Math.round(runMs), deleteMs: Math.round(deleteMs) };
      if (o.json) printJson({ vmId: vm.vmId, command, ...r.toJSON(), timings });
      else {
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        progress(`\n$ ${command}  → exit ${r.exitCode}\nboot to ready: ${timings.bootMs} ms, command: ${timings.commandMs} ms, stop+delete: ${timings.deleteMs} ms`);
      }
      process.exitCode = r.exitCode;
    });
}
