/** Runs one shell command line in the guest over the VM's connection and collects its result. */
import { randomBytes } from "node:crypto";
import { CommandAbortedError, CommandTimeoutError } from "../errors.js";
import { logger } from "../log.js";
import type { GuestConnection } from "./ssh.js";
import { killCommandScript, wrapCommand } from "./shell.js";

const log = logger("ssh");

/** Options of `vm.run()`. */
export interface RunOptions {
  /** Kill the command and reject with `CommandTimeoutError` after this many milliseconds. */
  timeoutMs?: number;
  /** Aborting kills the command in the guest and rejects with `CommandAbortedError`. */
  signal?: AbortSignal;
  /** Called with each chunk of stdout as it arrives (the result still holds all of it, up to `maxBufferBytes`). */
  onStdout?: (chunk: Buffer) => void;
  /** Called with each chunk of stderr as it arrives. */
  onStderr?: (chunk: Buffer) => void;
  /**
   * Most bytes of each stream kept in the result; the rest is still streamed to the callbacks and
   * counted, and the result says it was truncated.
   * @default 67108864 (64 MiB)
   */
  maxBufferBytes?: number;
}

/** The outcome of a command that ran to completion. A non-zero exit is a result, not an error. */
export class RunResult {
  constructor(
    /** Exit status; 128 + signal number when the command was killed by a signal. */
    readonly exitCode: number,
    /** Raw stdout bytes (binary-safe). */
    readonly stdoutBytes: Buffer,
    /** Raw stderr bytes (binary-safe). */
    readonly stderrBytes: Buffer,
    readonly durationMs: number,
    /** The signal that ended the command, if one did. */
    readonly signal?: string,
    /** True when output beyond `maxBufferBytes` was dropped from the result. */
    readonly truncated = false,
  ) {}
  /** stdout decoded as UTF-8. */
  get stdout(): string {
    return this.stdoutBytes.toString("utf8");
  }
  /** stderr decoded as UTF-8. */
  get stderr(): string {
    return this.stderrBytes.toString("utf8");
  }
  /** True when the exit code is 0. */
  get ok(): boolean {
    return this.exitCode === 0;
  }
  toJSON() {
    return { exitCode: this.exitCode, ok: this.ok, stdout: this.stdout, stderr: this.stderr, durationMs: this.durationMs, signal: this.signal };
  }
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, SEGV: 11, PIPE: 13, ALRM: 14, TERM: 15 };

class Collector {
  private chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;
  constructor(private readonly max: number, private readonly onChunk?: (c: Buffer) => void) {}
  push(c: Buffer): void {
    // Keep the chunk before telling the listener, so output seen by the callback is in any error it causes.
    if (this.kept >= this.max) {
      if (c.length) this.truncated = true;
    } else {
      const take = c.length <= this.max - this.kept ? c : c.subarray(0, this.max - this.kept);
      if (take !== c) this.truncated = true;
      this.chunks.push(take);
      this.kept += take.length;
    }
    this.onChunk?.(c);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}

/** Runs `command` (a shell command line) and resolves with its result once it exits. */
export async function runCommand(conn: GuestConnection, command: string, opts: RunOptions = {}): Promise<RunResult> {
  opts.signal?.throwIfAborted();
  const started = performance.now();
  const cmdId = randomBytes(6).toString("hex");
  const channel = await conn.exec(wrapCommand(command, cmdId));
  const out = new Collector(opts.maxBufferBytes ?? 64 * 1024 * 1024, opts.onStdout);
  const err = new Collector(opts.maxBufferBytes ?? 64 * 1024 * 1024, opts.onStderr);
  channel.on("data", (c: Buffer) => out.push(c));
  channel.stderr.on("data", (c: Buffer) => err.push(c));
  let exitCode: number | undefined;
  let exitSignal: string | undefined;
  channel.on("exit", (code: number | null, signal?: string) => {
    exitCode = code ?? undefined;
    exitSignal = signal ?? undefined;
  });

  return new Promise<RunResult>((resolve, reject) => {
    let settled = false;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    const stop = (kind: "timeout" | "abort") => {
      if (settled) return;
      settled = true;
      cleanup();
      const durationMs = Math.round(performance.now() - started);
      log("%s: killing command %s (%s)", conn.vmId, cmdId, kind);
      const partial = { vmId: conn.vmId, command, durationMs, stdout: out.bytes().toString(), stderr: err.bytes().toString() };
      const error =
        kind === "timeout"
          ? new CommandTimeoutError(`Command timed out after ${opts.timeoutMs} ms and was killed: ${command.slice(0, 80)}`, { ...partial, timedOut: true })
          : new CommandAbortedError(`Command was aborted and killed: ${command.slice(0, 80)}`, { ...partial, aborted: true, cause: opts.signal?.reason });
      // Kill in the guest first, so that when we reject, the command really is gone.
      killInGuest(conn, cmdId).finally(() => {
        channel.close();
        reject(error);
      });
    };
    const onAbort = () => stop("abort");
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => stop("timeout"), opts.timeoutMs) : undefined;
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    channel.once("close", () => {
      if (settled) return;
      settled = true;
      cleanup();
      const sig = exitSignal?.replace(/^SIG/, "");
      const code = exitCode ?? (sig ? 128 + (SIGNALS[sig] ?? 0) : 255);
      resolve(new RunResult(code, out.bytes(), err.bytes(), Math.round(performance.now() - started), sig, out.truncated || err.truncated));
    });
  });
}

async function killInGuest(conn: GuestConnection, cmdId: string): Promise<void> {
  try {
    const ch = await conn.exec(killCommandScript(cmdId));
    ch.resume();
    ch.stderr.resume();
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 5000);
      ch.once("close", () => (clearTimeout(t), resolve()));
    });
  } catch (e) {
    log("%s: kill of %s failed: %s", conn.vmId, cmdId, (e as Error).message);
  }
}
