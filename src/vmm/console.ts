/** Watches the guest's serial console log for the readiness marker that guest/smol-boot prints. */
import { open } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { VMBootError } from "../errors.js";

export const READY_MARKER = "SMOLVM_READY";
const FAILURE_PATTERNS = [/SMOLVM_FAIL[^\n]*/, /Kernel panic[^\n]*/];

/** The last lines of the console log, for error messages. */
export async function consoleTail(path: string, lines = 8): Promise<string> {
  try {
    const fh = await open(path, "r");
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 8192);
      const { buffer } = await fh.read(Buffer.alloc(len), 0, len, size - len);
      return buffer.toString("utf8").split("\n").filter(Boolean).slice(-lines).join("\n");
    } finally {
      await fh.close();
    }
  } catch {
    return "";
  }
}

/**
 * Resolves once the marker line appears. Polls every 5 ms (cheap: only new bytes are read) and gives up
 * when `isAlive` turns false, a failure pattern shows up, the deadline passes or the signal aborts.
 */
export async function waitForReady(opts: {
  serialLogPath: string;
  deadline: number;
  isAlive: () => boolean;
  vmId: string;
  signal?: AbortSignal;
}): Promise<void> {
  let offset = 0;
  let text = "";
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      if (!fh) fh = await open(opts.serialLogPath, "r").catch(() => undefined);
      if (fh) {
        const chunk = Buffer.alloc(65536);
        const { bytesRead } = await fh.read(chunk, 0, chunk.length, offset);
        if (bytesRead > 0) {
          offset += bytesRead;
          text = (text + chunk.subarray(0, bytesRead).toString("latin1")).slice(-16384);
          if (text.includes(READY_MARKER)) return;
          for (const p of FAILURE_PATTERNS) {
            const m = p.exec(text);
            if (m) throw new VMBootError(`VM ${opts.vmId} failed to boot (${m[0].trim()}); see "smolvm logs ${opts.vmId}".`, { vmId: opts.vmId });
          }
          continue;
        }
      }
      if (!opts.isAlive()) {
        throw new VMBootError(`VM ${opts.vmId} exited during boot; see "smolvm logs ${opts.vmId}".`, { vmId: opts.vmId });
      }
      if (Date.now() > opts.deadline) {
        throw new VMBootError(`VM ${opts.vmId} did not become ready in time; see "smolvm logs ${opts.vmId}" or raise bootTimeoutMs.`, { vmId: opts.vmId });
      }
      await sleep(5);
    }
  } finally {
    await fh?.close();
  }
}
