/**
 * The control channel: one persistent ssh2 connection per VM, reused by every command. The guest's host
 * key is pinned (the verifier accepts exactly the key smolvm generated for this VM).
 */
import { connect as netConnect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import ssh2, { type ClientChannel } from "ssh2";
import { GuestConnectionError } from "../errors.js";
import { logger } from "../log.js";

const log = logger("ssh");

export interface SshTarget {
  host: string;
  port: number;
  privateKey: string;
  /** Base64 SSH wire blob of the only host key to accept. */
  hostKeyBlob: string;
  vmId: string;
}

/**
 * chacha20-poly1305 first: the guest does the crypto in software (TCG's qemu64 has no AES-NI) and
 * dropbear offers no AES-GCM, so ssh2's default (aes128-ctr + HMAC) halved tunnel throughput (16 vs 29 MB/s).
 */
const CIPHERS = [
  "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr",
] as ssh2.CipherAlgorithm[];

/** One authenticated SSH connection. Idle, it does not keep the Node process alive. */
export class GuestConnection {
  private busy = 0;
  private closed = false;
  private constructor(
    private readonly client: ssh2.Client,
    private readonly sock: Socket,
    readonly vmId: string,
  ) {
    sock.unref();
    client.on("close", () => (this.closed = true));
    client.on("error", (e) => log("%s: connection error %s", vmId, e.message));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Connects, retrying refused or reset connections until the deadline: dropbear may still be coming up
   * for a few milliseconds after the readiness marker.
   */
  static async connect(target: SshTarget, opts: { deadline: number; signal?: AbortSignal }): Promise<GuestConnection> {
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      opts.signal?.throwIfAborted();
      const left = opts.deadline - Date.now();
      if (left <= 0) break;
      try {
        return await GuestConnection.tryConnect(target, Math.min(left, 10_000));
      } catch (e) {
        lastError = e;
        if (e instanceof GuestConnectionError && /authentication|host key/i.test(e.message)) throw e;
        log("%s: connect attempt %d failed: %s", target.vmId, attempt + 1, (e as Error).message);
        await sleep(Math.min(20 * 1.5 ** attempt, 250));
      }
    }
    throw new GuestConnectionError(
      `Cannot reach the SSH server of VM ${target.vmId} at ${target.host}:${target.port}; check "smolvm logs ${target.vmId}".`,
      { vmId: target.vmId, cause: lastError },
    );
  }

  private static tryConnect(target: SshTarget, timeoutMs: number): Promise<GuestConnection> {
    return new Promise((resolve, reject) => {
      const sock = netConnect({ host: target.host, port: target.port });
      // Without TCP_NODELAY, Nagle plus delayed ACKs add ~35 ms to every exec round trip.
      sock.setNoDelay(true);
      sock.setKeepAlive(true, 10_000); // kernel keepalive: finds a dead link without a timer in Node
      const client = new ssh2.Client();
      let hostKeyRejected = false;
      const fail = (e: Error) => {
        client.removeAllListeners("ready");
        sock.destroy();
        reject(
          hostKeyRejected
            ? new GuestConnectionError(`The host key of VM ${target.vmId} does not match the pinned key; the VM at ${target.host}:${target.port} is not the one recorded.`, { vmId: target.vmId })
            : /authentication/i.test(e.message)
              ? new GuestConnectionError(`SSH authentication to VM ${target.vmId} failed; the guest does not accept this user's key.`, { vmId: target.vmId, cause: e })
              : e,
        );
      };
      client.once("error", fail);
      client.once("ready", () => {
        client.removeListener("error", fail);
        resolve(new GuestConnection(client, sock, target.vmId));
      });
      client.connect({
        sock,
        username: "root",
        privateKey: target.privateKey,
        readyTimeout: timeoutMs,
        algorithms: { cipher: CIPHERS },
        hostVerifier: (key: Buffer) => {
          hostKeyRejected = key.toString("base64") !== target.hostKeyBlob;
          return !hostKeyRejected;
        },
        debug: log.enabled ? (msg: string) => log("%s", msg) : undefined,
      });
    });
  }

  /**
   * Opens an exec channel for a command line. A refused exec request (dropbear under load: "Unable to
   * exec") means the command never started, so it is retried a few times.
   */
  async exec(command: string): Promise<ClientChannel> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.openChannel("start a command", (cb) => this.client.exec(command, cb));
      } catch (e) {
        if (attempt >= 4 || !this.isOpen || !/Unable to exec/i.test((e as Error).message)) throw e;
        log("%s: exec refused (attempt %d), retrying", this.vmId, attempt);
        await sleep(50 * attempt);
      }
    }
  }

  /** Opens a direct-tcpip channel to a port inside the guest (for SSH tunnels). */
  forwardOut(guestHost: string, guestPort: number): Promise<ClientChannel> {
    return this.openChannel(`open a tunnel to port ${guestPort}`, (cb) => this.client.forwardOut("127.0.0.1", 0, guestHost, guestPort, cb));
  }

  /** The one way channels are opened: the socket is ref'd from the request until the channel closes. */
  private openChannel(what: string, open: (cb: (err: Error | undefined, ch: ClientChannel) => void) => void): Promise<ClientChannel> {
    if (this.closed) {
      return Promise.reject(new GuestConnectionError(`The SSH connection to VM ${this.vmId} is closed; retry to reconnect.`, { vmId: this.vmId }));
    }
    this.hold(); // from the request on, not only once the channel opens, or Node may exit in between
    return new Promise((resolve, reject) => {
      open((err, channel) => {
        if (err) {
          this.release();
          return reject(new GuestConnectionError(`Cannot ${what} in VM ${this.vmId}: ${err.message}.`, { vmId: this.vmId, cause: err }));
        }
        channel.once("close", () => this.release());
        resolve(channel);
      });
    });
  }

  /** Keeps the process alive while something other than a channel needs the link (e.g. a tunnel server). */
  hold(): void {
    if (this.busy++ === 0) this.sock.ref();
  }

  release(): void {
    if (--this.busy === 0) this.sock.unref();
  }

  close(): void {
    this.closed = true;
    this.client.end();
    this.sock.destroy();
  }
}
