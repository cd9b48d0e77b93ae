/**
 * The forwards of one VM: picks the transport and host port, proves the path, records the forward in the
 * state store, and removes it again. Transports are tried in order (nftables, then the SSH tunnel); an
 * attempt that fails leaves nothing behind, and when all fail the error lists every attempt.
 *
 * Host ports: an exclusive listen on 127.0.0.1:port is both the busy check (no host listener, no tunnel)
 * and, for nftables, a reservation held while this process lives, so no listener can appear under the
 * DNAT. The forwards table's primary key on the host port keeps forwards of other processes apart.
 */
import { createServer, connect, type Server } from "node:net";
import { PortForwardError } from "../errors.js";
import type { GuestConnection } from "../guest/ssh.js";
import { isAlive, processStartTime, signalIfAlive } from "../host/process.js";
import { logger } from "../log.js";
import type { ForwardRecord, StateStore } from "../state/store.js";
import { validateExpose, validatePort, type ExposeOptions, type Forward, type Transport } from "./forward.js";
import type { NetworkRecord } from "./network.js";
import { addDnatRule, deleteRule, rulePackets } from "./nft-forward.js";
import { probeGuestPort, SshTunnel } from "./ssh-tunnel.js";

const log = logger("net");

/** What a forward needs to know about the VM. */
export interface ForwardTarget {
  conn: GuestConnection;
  network?: Partial<NetworkRecord>;
  /**
   * Forwards that outlive this process (the CLI's): nftables rules get no owner, so no sweep removes
   * them; SSH tunnels are recorded as owned by this (detached tunnel) process.
   */
  persistent?: boolean;
}

function listenExclusive(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => s.destroy());
    srv.once("error", reject);
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      srv.removeListener("error", reject);
      srv.unref();
      resolve(srv);
    });
  });
}

/** A recorded forward that no longer holds its port: its tunnel owner died, or its VM is not running. */
export function isStale(store: StateStore, f: ForwardRecord): boolean {
  if (f.transport === "ssh_tunnel") return !(f.ownerPid && f.ownerStartTime && isAlive({ pid: f.ownerPid, startTime: f.ownerStartTime }));
  const vm = store.getVm(f.vmId);
  return !vm || vm.status !== "running";
}

/** Connects to 127.0.0.1:port; "connected", "refused" or "timeout". */
function tryConnect(port: number, timeoutMs: number): Promise<"connected" | "refused" | "timeout"> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => (s.destroy(), resolve("timeout")), timeoutMs);
    s.once("connect", () => (clearTimeout(t), s.destroy(), resolve("connected")));
    s.once("error", () => (clearTimeout(t), resolve("refused")));
  });
}

export class ForwardManager {
  private readonly tunnels = new Map<number, SshTunnel>();
  private readonly reservations = new Map<number, Server>();

  constructor(private readonly store: StateStore, private readonly vmId: string) {}

  /** Makes the forward and returns the host port actually used. */
  async expose(target: ForwardTarget, options: ExposeOptions): Promise<number> {
    const { guestPort, hostPort, transport } = validateExpose(options);
    const order: Transport[] = transport === "auto" ? ["nftables", "ssh_tunnel"] : [transport];
    const failures: string[] = [];
    for (const t of order) {
      try {
        const port = t === "ssh_tunnel" ? await this.openTunnel(target, guestPort, hostPort) : await this.openNftables(target, guestPort, hostPort);
        log("%s: forward 127.0.0.1:%d -> guest:%d transport=%s", this.vmId, port, guestPort, t);
        return port;
      } catch (e) {
        log("%s: transport=%s failed: %s", this.vmId, t, (e as Error).message);
        failures.push(`${t}: ${(e as Error).message}`);
      }
    }
    throw new PortForwardError(`Cannot expose guest port ${guestPort}: every transport failed (${failures.join("; ")}).`, { vmId: this.vmId });
  }

  /**
   * Claims a host port: the wanted one if it is free, else a kernel-chosen free one. Returns it with its
   * exclusive listener and its forwards row (claimed atomically in the store).
   */
  private async claimPort(wanted: number | undefined, rec: Omit<ForwardRecord, "hostPort">): Promise<{ port: number; server: Server }> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const ask = attempt === 0 && wanted ? wanted : 0;
      let server: Server;
      try {
        server = await listenExclusive(ask);
      } catch (e) {
        if (attempt === 0 && wanted) log("%s: host port %d is busy, choosing another", this.vmId, wanted);
        continue;
      }
      const port = (server.address() as { port: number }).port;
      const existing = this.store.forwardOnPort(port);
      if (existing && isStale(this.store, existing)) this.store.deleteForward(existing.vmId, port);
      if (this.store.insertForward({ ...rec, hostPort: port })) return { port, server };
      server.close(); // another VM's forward holds it (an nftables rule needs no listener)
    }
    throw new Error("no free host port on 127.0.0.1");
  }

  private async openNftables(target: ForwardTarget, guestPort: number, wanted?: number): Promise<number> {
    const plan = target.network?.plan;
    if (target.network?.mode !== "tap" || !plan) {
      throw new Error("needs namespace networking (network \"tap\", root or CAP_NET_ADMIN); this VM uses user networking");
    }
    const owner = target.persistent ? {} : { ownerPid: process.pid, ownerStartTime: processStartTime(process.pid) };
    const { port, server } = await this.claimPort(wanted, { vmId: this.vmId, guestPort, transport: "nftables", ...owner });
    let handle: number | undefined;
    try {
      handle = await addDnatRule(plan.table, port, plan.nsIp, guestPort, this.vmId);
      // Counts only once a probe has reached the guest: it connects, or the guest itself refuses (counter > 0).
      const probe = await tryConnect(port, 3000);
      if (probe === "timeout" || (probe === "refused" && (await rulePackets(plan.table, handle)) === 0)) {
        throw new Error(`probe through 127.0.0.1:${port} did not reach the guest (${probe})`);
      }
      this.store.deleteForward(this.vmId, port);
      this.store.insertForward({ vmId: this.vmId, hostPort: port, guestPort, transport: "nftables", ...owner, detail: { handle } });
      this.reservations.set(port, server);
      return port;
    } catch (e) {
      if (handle !== undefined) await deleteRule(plan.table, handle);
      this.store.deleteForward(this.vmId, port);
      server.close();
      throw e;
    }
  }

  private async openTunnel(target: ForwardTarget, guestPort: number, wanted?: number): Promise<number> {
    await probeGuestPort(target.conn, guestPort);
    const rec = {
      vmId: this.vmId, guestPort, transport: "ssh_tunnel" as const, ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid), detail: target.persistent ? { daemon: true } : undefined,
    };
    const { port, server } = await this.claimPort(wanted, rec);
    await new Promise<void>((r) => server.close(() => r()));
    try {
      // Between close and listen the port is unheld for a moment; a listener that slips in makes this fail.
      const tunnel = await SshTunnel.open(target.conn, port, guestPort);
      this.tunnels.set(port, tunnel);
      return port;
    } catch (e) {
      this.store.deleteForward(this.vmId, port);
      throw e;
    }
  }

  /** Removes one forward, whichever process made it. Idempotent: one already gone is not an error. */
  async unexpose(opts: { hostPort: number; guestPort?: number }): Promise<void> {
    if (typeof opts !== "object" || opts === null) throw new TypeError("unexposeLocal needs { hostPort, guestPort? }");
    const hostPort = validatePort("hostPort", opts.hostPort);
    if (opts.guestPort !== undefined) validatePort("guestPort", opts.guestPort);
    const rec = this.store.listForwards(this.vmId).find((f) => f.hostPort === hostPort);
    if (rec && opts.guestPort !== undefined && rec.guestPort !== opts.guestPort) {
      throw new RangeError(`host port ${hostPort} forwards to guest port ${rec.guestPort}, not ${opts.guestPort}`);
    }
    if (rec) await this.remove(rec, this.store.getVm(this.vmId)?.network as Partial<NetworkRecord> | undefined);
  }

  private async remove(rec: ForwardRecord, network?: Partial<NetworkRecord>): Promise<void> {
    const tunnel = this.tunnels.get(rec.hostPort);
    if (tunnel) {
      await tunnel.close();
      this.tunnels.delete(rec.hostPort);
    } else if (rec.transport === "ssh_tunnel" && rec.detail?.daemon && rec.ownerPid && rec.ownerStartTime) {
      signalIfAlive({ pid: rec.ownerPid, startTime: rec.ownerStartTime }, "SIGTERM"); // a CLI tunnel process
    }
    if (rec.transport === "nftables" && rec.detail?.handle !== undefined && network?.plan) {
      await deleteRule(network.plan.table, rec.detail.handle);
    }
    this.reservations.get(rec.hostPort)?.close();
    this.reservations.delete(rec.hostPort);
    this.store.deleteForward(this.vmId, rec.hostPort);
  }

  /** The VM's forwards as recorded (made by any process). */
  list(): Forward[] {
    return this.store.listForwards(this.vmId).map(({ hostPort, guestPort, transport }) => ({ hostPort, guestPort, transport }));
  }

  /** Removes the forwards this handle made (when a non-owning handle is disposed). */
  async closeOwn(): Promise<void> {
    const network = this.store.getVm(this.vmId)?.network as Partial<NetworkRecord> | undefined;
    for (const rec of this.store.listForwards(this.vmId)) {
      if (this.tunnels.has(rec.hostPort) || this.reservations.has(rec.hostPort)) await this.remove(rec, network);
    }
  }

  /** Removes every forward of the VM, whoever made it (on stop, delete and dispose). */
  async closeAll(network?: Partial<NetworkRecord>): Promise<void> {
    for (const rec of this.store.listForwards(this.vmId)) await this.remove(rec, network);
    for (const t of this.tunnels.values()) await t.close();
    this.tunnels.clear();
  }
}
