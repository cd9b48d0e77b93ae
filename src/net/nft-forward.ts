/** One nftables port forward: a DNAT rule in the VM's host table, matched only for 127.0.0.1. */
import { exec, execAllowFail } from "../host/exec.js";

/** Adds `127.0.0.1:hostPort → target:guestPort` with a counter, and returns the rule handle. */
export async function addDnatRule(table: string, hostPort: number, target: string, guestPort: number, vmId: string): Promise<number> {
  const { stdout } = await exec("nft", [
    "-e", "-a", "add", "rule", "ip", table, "output",
    "ip", "daddr", "127.0.0.1", "tcp", "dport", String(hostPort),
    "counter", "dnat", "to", `${target}:${guestPort}`, "comment", `"smolvm:${vmId}:${hostPort}"`,
  ]);
  const handle = /# handle (\d+)/.exec(stdout)?.[1];
  if (!handle) throw new Error(`nft did not report the new rule's handle (${stdout.trim()})`);
  return Number(handle);
}

export async function deleteRule(table: string, handle: number): Promise<void> {
  await execAllowFail("nft", ["delete", "rule", "ip", table, "output", "handle", String(handle)]);
}

/** Packets the rule has matched so far (0 when the rule is gone). */
export async function rulePackets(table: string, handle: number): Promise<number> {
  const r = await execAllowFail("nft", ["-j", "list", "chain", "ip", table, "output"]);
  if (r.code !== 0) return 0;
  const items = (JSON.parse(r.stdout) as { nftables: Array<{ rule?: { handle: number; expr: Array<{ counter?: { packets: number } }> } }> }).nftables;
  const rule = items.find((i) => i.rule?.handle === handle)?.rule;
  return rule?.expr.find((e) => e.counter)?.counter?.packets ?? 0;
}
