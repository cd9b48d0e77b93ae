/**
 * The forwards of one VM handle: picks the transport and host port, proves the path, records the
 * forward in the state store, and removes it again. Transports are tried in order; each attempt that
 * fails leaves nothing behind, and when all fail the error lists every attempt.
 */
import { PortForwardError } from "../errors.js";
import type { GuestConnection } from "../guest/ssh.js";
import { processStartTime } from "../host/process.js";
import { logger } from "../log.js";
import type { StateStore } from "../state/store.js";
import { validateExpose, validatePort, type ExposeOptions, type Forward, type Transport } from "./forward.js";
import { probeGuestPort, SshTunnel } from "./ssh-tunnel.js";

const log = logger("net");

export class ForwardManager {
  private readonly tunnels = new Map<number, SshTunnel>();

  constructor(private readonly store: StateStore, private readonly vmId: string) {}

  /** Makes the forward and returns the host port actually used. */
  async expose(conn: GuestConnection, options: ExposeOptions): Promise<number> {
    const { guestPort, hostPort, transport } = validateExpose(options);
    const order: Transport[] = transport === "auto" ? ["nftables", "ssh_tunnel"] : [transport];
    const failures: string[] = [];
    for (const t of order) {
      try {
        const port = t === "ssh_tunnel" ? await this.openTunnel(conn, guestPort, hostPort) : await this.openNftables();
        log("%s: forward 127.0.0.1:%d -> guest:%d transport=%s", this.vmId, port, guestPort, t);
        return port;
      } catch (e) {
        failures.push(`${t}: ${(e as Error).message}`);
      }
    }
    throw new PortForwardError(`Cannot expose guest port ${guestPort}: every transport failed (${failures.join("; ")}).`, { vmId: this.vmId });
  }

  private async openNftables(): Promise<number> {
    throw new Error("not available in user networking mode (it needs the per-VM network namespace)");
  }

  private async openTunnel(conn: GuestConnection, guestPort: number, wanted?: number): Promise<number> {
    await probeGuestPort(conn, guestPort);
    let tunnel: SshTunnel;
    try {
      tunnel = await SshTunnel.open(conn, wanted ?? 0, guestPort);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" && (e as NodeJS.ErrnoException).code !== "EACCES") throw e;
      log("%s: host port %d is busy, choosing another", this.vmId, wanted);
      tunnel = await SshTunnel.open(conn, 0, guestPort);
    }
    this.tunnels.set(tunnel.hostPort, tunnel);
    this.store.insertForward({
      vmId: this.vmId, hostPort: tunnel.hostPort, guestPort, transport: "ssh_tunnel",
      ownerPid: process.pid, ownerStartTime: processStartTime(process.pid),
    });
    return tunnel.hostPort;
  }

  /** Removes one forward. Idempotent: a forward that is already gone is not an error. */
  async unexpose(opts: { hostPort: number; guestPort?: number }): Promise<void> {
    if (typeof opts !== "object" || opts === null) throw new TypeError("unexposeLocal needs { hostPort, guestPort? }");
    const hostPort = validatePort("hostPort", opts.hostPort);
    if (opts.guestPort !== undefined) validatePort("guestPort", opts.guestPort);
    const rec = this.store.listForwards(this.vmId).find((f) => f.hostPort === hostPort);
    if (rec && opts.guestPort !== undefined && rec.guestPort !== opts.guestPort) {
      throw new RangeError(`host port ${hostPort} forwards to guest port ${rec.guestPort}, not ${opts.guestPort}`);
    }
    await this.tunnels.get(hostPort)?.close();
    this.tunnels.delete(hostPort);
    this.store.deleteForward(this.vmId, hostPort);
  }

  /** The VM's forwards as recorded (made by any process). */
  list(): Forward[] {
    return this.store.listForwards(this.vmId).map(({ hostPort, guestPort, transport }) => ({ hostPort, guestPort, transport }));
  }

  /** Removes the forwards this handle made (when a non-owning handle is disposed). */
  async closeOwn(): Promise<void> {
    for (const [port, t] of this.tunnels) {
      await t.close();
      this.store.deleteForward(this.vmId, port);
    }
    this.tunnels.clear();
  }

  /** Removes every forward of the VM (on stop, delete and dispose). */
  async closeAll(): Promise<void> {
    for (const t of this.tunnels.values()) await t.close();
    this.tunnels.clear();
    for (const f of this.store.listForwards(this.vmId)) this.store.deleteForward(this.vmId, f.hostPort);
  }
}
