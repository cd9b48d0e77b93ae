/**
 * The CLI's SSH-tunnel process: `smolvm expose --transport ssh_tunnel` starts it detached so the tunnel
 * outlives the command. It makes the forward, prints {"hostPort": N} on stdout for the CLI, and serves
 * until it gets SIGTERM (unexpose, stop, delete) or its SSH link to the VM ends.
 */
import { SmolVM } from "../index.js";

const [vmId, guestPort, hostPort] = process.argv.slice(2);
try {
  const vm = await SmolVM.fromId(vmId!, { persistentForwards: true });
  const port = await vm.exposeLocal({ guestPort: Number(guestPort), hostPort: hostPort ? Number(hostPort) : undefined, transport: "ssh_tunnel" });
  process.stdout.write(JSON.stringify({ hostPort: port }) + "\n");
  const stop = async () => {
    await vm.unexposeLocal({ hostPort: port }).catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  // A VM that stops or dies takes its forwards with it: then there is nothing left to serve.
  setInterval(() => {
    if (vm.status !== "running") void stop();
  }, 2000);
} catch (e) {
  process.stdout.write(JSON.stringify({ error: (e as Error).message, name: (e as Error).name }) + "\n");
  process.exit(1);
}
