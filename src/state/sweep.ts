/**
 * The sweep: removes what dead processes left behind. It runs at SDK start-up (once per context), from
 * `smolvm cleanup` and from `doctor`. It only touches forwards whose recorded owner is provably gone (pid
 * and start time no longer match) or whose VM is not running; anything else, including forwards with no
 * owner (the CLI's), is left alone. Errors are collected and the sweep goes on.
 */
import { isAlive, signalIfAlive } from "../host/process.js";
import { logger } from "../log.js";
import { deleteRule } from "../net/nft-forward.js";
import type { NetworkRecord } from "../net/network.js";
import { teardownNetwork } from "../net/network.js";
import type { StateStore } from "./store.js";

const log = logger("state");

export interface SweepReport {
  removedForwards: Array<{ vmId: string; hostPort: number; transport: string; reason: string }>;
  /** Networks of VMs that are not running any more (QEMU died) that were torn down. */
  removedNetworks: string[];
  errors: string[];
}

export async function sweep(store: StateStore): Promise<SweepReport> {
  const report: SweepReport = { removedForwards: [], removedNetworks: [], errors: [] };
  for (const f of store.allForwards()) {
    const vm = store.getVm(f.vmId);
    const vmRunning = !!vm && vm.status === "running" && !!vm.pid && !!vm.pidStartTime && isAlive({ pid: vm.pid, startTime: vm.pidStartTime });
    const ownerGone = f.ownerPid !== undefined && !(f.ownerStartTime !== undefined && isAlive({ pid: f.ownerPid, startTime: f.ownerStartTime }));
    if (vmRunning && !ownerGone) continue;
    try {
      const net = vm?.network as Partial<NetworkRecord> | undefined;
      // A live CLI tunnel process whose VM is gone has nothing to serve: end it.
      if (f.detail?.daemon && !ownerGone && f.ownerPid && f.ownerStartTime) signalIfAlive({ pid: f.ownerPid, startTime: f.ownerStartTime }, "SIGTERM");
      if (f.transport === "nftables" && f.detail?.handle !== undefined && net?.plan && vmRunning) await deleteRule(net.plan.table, f.detail.handle);
      store.deleteForward(f.vmId, f.hostPort);
      report.removedForwards.push({ vmId: f.vmId, hostPort: f.hostPort, transport: f.transport, reason: vmRunning ? "owner process is gone" : "VM is not running" });
    } catch (e) {
      report.errors.push(`forward ${f.hostPort}: ${(e as Error).message}`);
    }
  }
  // A VM whose QEMU died keeps its namespace and nft table until someone tears them down: do it now.
  for (const vm of store.listVms()) {
    const net = vm.network as Partial<NetworkRecord> | undefined;
    if (net?.mode !== "tap" || (vm.pid && vm.pidStartTime && isAlive({ pid: vm.pid, startTime: vm.pidStartTime }))) continue;
    if (vm.status === "created" && Date.now() - vm.updatedAt < vm.config.bootTimeoutMs) continue; // may still be starting
    try {
      await teardownNetwork(vm.id, net, store);
      store.updateVm(vm.id, { network: null, ...(vm.status === "running" ? { status: "error", error: "QEMU process exited unexpectedly" } : {}) });
      report.removedNetworks.push(vm.id);
    } catch (e) {
      report.errors.push(`network of ${vm.id}: ${(e as Error).message}`);
    }
  }
  if (report.removedForwards.length || report.removedNetworks.length) log("sweep: %o", report);
  return report;
}
