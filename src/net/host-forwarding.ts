/**
 * Host IP forwarding for guests with `internet: true` in tap mode. It is a host-wide switch, so smolvm
 * only turns it on when it is off, records that it did (with the VMs that need it), and turns it back off
 * once the last of them is gone. A host that already forwards is left exactly as it was.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { logger } from "../log.js";
import type { StateStore } from "../state/store.js";

const log = logger("net");
const SYSCTL = "/proc/sys/net/ipv4/ip_forward";
const KEY = "ip_forward_holders";

function holders(store: StateStore): string[] {
  return JSON.parse(store.getMeta(KEY) ?? "[]") as string[];
}

export async function holdHostForwarding(store: StateStore, vmId: string): Promise<void> {
  const list = holders(store);
  if (readFileSync(SYSCTL, "utf8").trim() === "1" && list.length === 0) return; // the host forwards already
  if (!list.includes(vmId)) list.push(vmId);
  store.setMeta(KEY, JSON.stringify(list));
  writeFileSync(SYSCTL, "1");
  log("ip_forward on for %s (holders: %s)", vmId, list.join(","));
}

export async function releaseHostForwarding(store: StateStore, vmId: string): Promise<void> {
  const list = holders(store);
  if (!list.includes(vmId)) return;
  const rest = list.filter((id) => id !== vmId);
  store.setMeta(KEY, rest.length ? JSON.stringify(rest) : undefined);
  if (rest.length === 0) {
    writeFileSync(SYSCTL, "0");
    log("ip_forward back off (last internet VM %s gone)", vmId);
  }
}
