/**
 * Process identity that survives pid reuse: a pid is only "ours" while its start time (field 22 of
 * /proc/<pid>/stat, in clock ticks since boot) matches the one recorded when we started it.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessRef {
  pid: number;
  startTime: number;
}

/** The start time of a live process, or undefined when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return undefined; // a zombie is dead for our purposes
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

export function isAlive(ref: ProcessRef): boolean {
  return processStartTime(ref.pid) === ref.startTime;
}

/** Sends a signal only if the pid still names the same process. */
export function signalIfAlive(ref: ProcessRef, signal: NodeJS.Signals): boolean {
  if (!isAlive(ref)) return false;
  try {
    process.kill(ref.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the process is gone; true if it went within `timeoutMs`. */
export async function waitForExit(ref: ProcessRef, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(ref)) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function terminate(ref: ProcessRef, graceMs = 1000): Promise<void> {
  if (!signalIfAlive(ref, "SIGTERM")) return;
  if (await waitForExit(ref, graceMs)) return;
  signalIfAlive(ref, "SIGKILL");
  await waitForExit(ref, 5000);
}
