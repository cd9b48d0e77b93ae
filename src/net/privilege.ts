/** Whether this process can use privileged networking (namespaces, TAP, nftables). */
import { execAllowFail } from "../host/exec.js";
import { readFileSync } from "node:fs";

const CAP_NET_ADMIN = 12;

function hasCapNetAdmin(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync("/proc/self/status", "utf8"));
    return !!m && (BigInt(`0x${m[1]}`) & (1n << BigInt(CAP_NET_ADMIN))) !== 0n;
  } catch {
    return false;
  }
}

let cached: { ok: boolean; reason: string } | undefined;

/** True when we have CAP_NET_ADMIN and `nft` and `ip` work. Cached for the process. */
export async function privilegedNetworking(): Promise<{ ok: boolean; reason: string }> {
  if (cached) return cached;
  if (!hasCapNetAdmin()) return (cached = { ok: false, reason: "no CAP_NET_ADMIN (not root)" });
  const nft = await execAllowFail("nft", ["list", "tables"]).catch(() => ({ code: 127 }));
  if (nft.code !== 0) return (cached = { ok: false, reason: "nft is missing or not usable" });
  const ip = await execAllowFail("ip", ["netns", "list"]).catch(() => ({ code: 127 }));
  if (ip.code !== 0) return (cached = { ok: false, reason: "ip (iproute2) is missing or not usable" });
  return (cached = { ok: true, reason: "CAP_NET_ADMIN, nft and ip available" });
}
