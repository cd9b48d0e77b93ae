/** A small QMP client: one JSON command at a time over the VM's unix socket. */
import { connect, type Socket } from "node:net";
import { VMStateError } from "../errors.js";

export class QmpClient {
  private buf = "";
  private waiting: Array<(msg: Record<string, unknown>) => void> = [];

  private constructor(private readonly sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ("event" in msg) continue; // asynchronous events are not needed here
        this.waiting.shift()?.(msg);
      }
    });
    sock.on("error", () => {});
  }

  /** Connects and leaves capabilities negotiation mode. */
  static async connect(path: string, timeoutMs = 2000): Promise<QmpClient> {
    const sock = connect(path);
    const client = new QmpClient(sock);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new VMStateError(`QMP socket ${path} did not answer; the VM may have exited.`)), timeoutMs);
      sock.once("error", (e) => (clearTimeout(t), reject(new VMStateError(`Cannot reach QMP socket ${path}; the VM is not running.`, { cause: e }))));
      client.waiting.push(() => (clearTimeout(t), resolve())); // the greeting
    });
    await client.execute("qmp_capabilities");
    return client;
  }

  /** Runs one command and returns its `return` value; rejects with QEMU's error description. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push((msg) => {
        if ("error" in msg) reject(new VMStateError(`QMP ${command} failed: ${(msg.error as { desc?: string }).desc ?? "unknown error"}.`));
        else resolve(msg.return);
      });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + "\n");
    });
  }

  /** Runs a human-monitor command (for hostfwd_add and friends, which have no QMP equivalent). */
  async hmp(commandLine: string): Promise<string> {
    return String(await this.execute("human-monitor-command", { "command-line": commandLine }));
  }

  close(): void {
    this.sock.destroy();
  }
}
