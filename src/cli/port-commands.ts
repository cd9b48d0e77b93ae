/** CLI commands for port forwards: expose, unexpose, ports, cleanup. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { PortForwardError, SmolVM, type Transport } from "../index.js";
import { intOption, printJson, printTable, progress } from "./output.js";

/** Starts the detached tunnel process and waits for the port it reports. */
async function exposeByTunnelProcess(vmId: string, guestPort: number, hostPort?: number): Promise<number> {
  const script = fileURLToPath(new URL("./tunnel-process.js", import.meta.url));
  const child = spawn(process.execPath, [script, vmId, String(guestPort), hostPort ? String(hostPort) : ""], {
    detached: true, stdio: ["ignore", "pipe", "ignore"], env: process.env,
  });
  const line = await new Promise<string>((resolve) => {
    let buf = "";
    child.stdout!.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf.split("\n")[0]!);
    });
    child.once("close", () => resolve(buf.split("\n")[0] ?? ""));
  });
  child.stdout!.destroy();
  child.unref();
  const msg = JSON.parse(line || '{"error":"the tunnel process exited without a word"}') as { hostPort?: number; error?: string; name?: string };
  if (!msg.hostPort) {
    const err = new PortForwardError(msg.error ?? "the tunnel process failed");
    if (msg.name === "RangeError") throw new RangeError(msg.error);
    throw err;
  }
  return msg.hostPort;
}

export function registerPortCommands(program: Command): void {
  program
    .command("expose <vm> <guestPort>")
    .description("expose a guest port on 127.0.0.1 and print the host port; the forward outlives this command")
    .option("--host-port <n>", "the host port wanted (another free one is used if it is busy)", intOption("--host-port"))
    .option("--transport <t>", "auto | nftables | ssh_tunnel (default auto)")
    .option("--json", "print { hostPort, guestPort, transport } as JSON")
    .action(async (id: string, guestPortText: string, o: { hostPort?: number; transport?: "auto" | Transport; json?: boolean }) => {
      const guestPort = intOption("guestPort")(guestPortText);
      const transport = o.transport ?? "auto";
      if (!["auto", "nftables", "ssh_tunnel"].includes(transport)) {
        throw new RangeError(`--transport must be auto, nftables or ssh_tunnel, got ${JSON.stringify(transport)}`);
      }
      const vm = await SmolVM.fromId(id, { persistentForwards: true });
      let hostPort: number | undefined;
      let nftFailure = "";
      if (transport !== "ssh_tunnel") {
        // nftables rules live in the kernel, so this process can make them and exit.
        try {
          hostPort = await vm.exposeLocal({ guestPort, hostPort: o.hostPort, transport: "nftables" });
        } catch (e) {
          if (transport === "nftables" || e instanceof RangeError || e instanceof TypeError) throw e;
          nftFailure = (e as Error).message;
        }
      }
      if (hostPort === undefined) {
        // A tunnel needs a live process: it gets a detached one of its own.
        try {
          hostPort = await exposeByTunnelProcess(id, guestPort, o.hostPort);
        } catch (e) {
          throw nftFailure ? new PortForwardError(`${nftFailure} Then ssh_tunnel: ${(e as Error).message}`) : e;
        }
      }
      vm.close();
      const fwd = (await vm.listForwards()).find((f) => f.hostPort === hostPort);
      if (o.json) printJson(fwd ?? { hostPort, guestPort });
      else process.stdout.write(`${hostPort}\n`);
      progress(`127.0.0.1:${hostPort} -> ${id}:${guestPort} (transport=${fwd?.transport ?? "?"})`);
    });

  program
    .command("unexpose <vm> <hostPort>")
    .description("remove a port forward (whichever process made it)")
    .action(async (id: string, hostPortText: string) => {
      const vm = await SmolVM.fromId(id);
      await vm.unexposeLocal({ hostPort: intOption("hostPort")(hostPortText) });
      vm.close();
    });

  program
    .command("ports <vm>")
    .description("list a VM's port forwards")
    .option("--json", "print as JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const forwards = await (await SmolVM.fromId(id)).listForwards();
      if (o.json) printJson(forwards);
      else printTable(forwards as unknown as Array<Record<string, unknown>>, ["hostPort", "guestPort", "transport"]);
    });

  program
    .command("cleanup")
    .description("remove what dead processes left behind (forwards, networks of dead VMs)")
    .option("--json", "print what was removed as JSON")
    .action(async (o: { json?: boolean }) => {
      const report = await SmolVM.cleanup();
      if (o.json) printJson(report);
      else progress(`Removed ${report.removedForwards.length} forward(s) and ${report.removedNetworks.length} network(s).${report.errors.length ? ` Errors: ${report.errors.join("; ")}` : ""}`);
      if (report.errors.length) process.exitCode = 1;
    });
}
