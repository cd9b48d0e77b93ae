/**
 * The SSH-tunnel transport: a TCP listener on 127.0.0.1:hostPort in this process; each accepted
 * connection becomes a direct-tcpip channel to the guest port over the VM's SSH connection.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { GuestConnection } from "../guest/ssh.js";
import { logger } from "../log.js";

const log = logger("net");

export class SshTunnel {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  hostPort = 0;

  private constructor(private readonly conn: GuestConnection, readonly guestPort: number) {
    this.server = createServer((sock) => this.relay(sock));
  }

  /**
   * Listens on 127.0.0.1 only. With `hostPort` 0 the kernel picks a free port. Binding exclusively is
   * also the busy check, so no other listener can slip in between check and use.
   * @throws the listen error (EADDRINUSE when the port is taken).
   */
  static async open(conn: GuestConnection, hostPort: number, guestPort: number): Promise<SshTunnel> {
    const tunnel = new SshTunnel(conn, guestPort);
    await new Promise<void>((resolve, reject) => {
      tunnel.server.once("error", reject);
      tunnel.server.listen({ host: "127.0.0.1", port: hostPort, exclusive: true }, () => {
        tunnel.server.removeListener("error", reject);
        resolve();
      });
    });
    tunnel.hostPort = (tunnel.server.address() as { port: number }).port;
    return tunnel;
  }

  private relay(sock: Socket): void {
    this.sockets.add(sock);
    sock.once("close", () => this.sockets.delete(sock));
    sock.on("error", () => {});
    this.conn.forwardOut("127.0.0.1", this.guestPort).then(
      (ch) => {
        sock.pipe(ch).pipe(sock);
        ch.once("close", () => sock.destroy());
        sock.once("close", () => ch.close());
      },
      (e: Error) => {
        log("%s: tunnel %d→%d: %s", this.conn.vmId, this.hostPort, this.guestPort, e.message);
        sock.destroy();
      },
    );
  }

  /** Stops listening and drops open connections; afterwards the port refuses connections. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Proves the path to the guest works: opening a direct-tcpip channel either succeeds (a listener) or is
 * refused by the guest (nothing listens yet). Both mean the tunnel reaches the guest; only a dead SSH
 * link is a failed probe.
 */
export async function probeGuestPort(conn: GuestConnection, guestPort: number): Promise<"listening" | "refused"> {
  try {
    const ch = await conn.forwardOut("127.0.0.1", guestPort);
    ch.close();
    return "listening";
  } catch (e) {
    if (!conn.isOpen) throw e;
    return "refused";
  }
}
