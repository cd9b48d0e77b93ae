/**
 * Privileged networking: the VM lives in its own network namespace, with its TAP device inside and a veth
 * pair to the host. The guest keeps slirp's addressing (10.0.2.15, gateway 10.0.2.2 on the TAP), so every
 * guest looks alike and namespaces keep them apart. The host reaches the guest through the namespace's veth
 * address, which DNATs all TCP to the guest. Host-side rules live in one nft table per VM, created and
 * deleted whole. (nft 1.0.6: a `}` right after a rule is a syntax error, hence the line breaks.)
 */
import { writeFileSync } from "node:fs";
import { exec, execAllowFail } from "../host/exec.js";
import { HostError } from "../errors.js";
import { logger } from "../log.js";
import type { VmNetwork } from "./network.js";

const log = logger("net");

export const GUEST_IP = "10.0.2.15";
const TAP_GW = "10.0.2.2";
const TAP = "smoltap0";

/** Everything named and numbered for one VM's namespace network; recorded in the state store. */
export interface NetnsPlan {
  slot: number;
  netns: string;
  hostIf: string;
  nsIf: string;
  hostIp: string;
  nsIp: string;
  /** The host-side nft table (ip family) holding this VM's rules. */
  table: string;
  /** The guest may reach out through NAT. */
  internet?: boolean;
}

/** Names and addresses for a slot: a /30 out of 10.233.0.0/16 per VM, interface names within 15 chars. */
export function netnsPlan(vmId: string, slot: number): NetnsPlan {
  if (!Number.isInteger(slot) || slot < 0 || slot > 16383) throw new RangeError(`network slot must be 0-16383, got ${slot}`);
  const base = (slot & 63) * 4;
  const third = slot >> 6;
  return {
    slot,
    netns: `smolvm-${vmId}`,
    hostIf: `smv${slot}h`,
    nsIf: `smv${slot}n`,
    hostIp: `10.233.${third}.${base + 1}`,
    nsIp: `10.233.${third}.${base + 2}`,
    table: `smolvm_${vmId.replace(/-/g, "_")}`,
  };
}

/**
 * The nft script for the VM's host-side table: the output chain (filled by exposeLocal), the masquerade
 * that goes with it, and isolation: nothing from the guest reaches the host itself (input) nor another
 * VM's veth (forward; matters on hosts that forward, e.g. with Docker).
 */
export function hostTableScript(p: NetnsPlan, vmId: string): string {
  return `table ip ${p.table} {
  comment "smolvm:${vmId}"
  chain output { type nat hook output priority -100; policy accept;
  }
  chain postrouting { type nat hook postrouting priority 100; policy accept;
    oifname "${p.hostIf}" ip saddr 127.0.0.0/8 masquerade
  }
  chain prerouting { type filter hook prerouting priority -300; policy accept;
    iifname "${p.hostIf}" ip daddr 127.0.0.0/8 drop
  }
  chain input { type filter hook input priority 0; policy accept;
    iifname "${p.hostIf}" ct state established,related accept
    iifname "${p.hostIf}" drop
  }
  chain forward { type filter hook forward priority 0; policy accept;
    iifname "${p.hostIf}" oifname "smv*" drop${p.internet ? `
    iifname "${p.hostIf}" accept
    oifname "${p.hostIf}" ct state established,related accept` : ""}
  }${p.internet ? `
  chain egress { type nat hook postrouting priority 100; policy accept;
    ip saddr ${p.nsIp} oifname != "${p.hostIf}" masquerade
  }` : ""}
}
`;
}

/** The nft script inside the namespace: everything arriving on the veth goes to the guest. */
function nsTableScript(p: NetnsPlan): string {
  return `table ip smolvm {
  chain prerouting { type nat hook prerouting priority -100; policy accept;
    iifname "${p.nsIf}" meta l4proto tcp dnat to ${GUEST_IP}
  }${p.internet ? `
  chain postrouting { type nat hook postrouting priority 100; policy accept;
    oifname "${p.nsIf}" ip saddr ${GUEST_IP} masquerade
  }` : ""}
}
`;
}

async function ip(args: string[]): Promise<void> {
  await exec("ip", args);
}

/** Creates namespace, veth, TAP, addresses and both nft tables. Undoes what it made if a step fails. */
export async function setupNetns(vmId: string, slot: number, internet = false): Promise<VmNetwork & { plan: NetnsPlan }> {
  const p = { ...netnsPlan(vmId, slot), internet };
  const t0 = Date.now();
  await teardownNetns(p); // leftovers of a crashed run under the same name go first
  try {
    await ip(["netns", "add", p.netns]);
    await ip(["link", "add", p.hostIf, "type", "veth", "peer", "name", p.nsIf, "netns", p.netns]);
    await ip(["addr", "add", `${p.hostIp}/30`, "dev", p.hostIf]);
    await ip(["link", "set", p.hostIf, "up"]);
    // After DNAT from 127.0.0.1 the packet leaves with a loopback source until masquerade rewrites it.
    writeFileSync(`/proc/sys/net/ipv4/conf/${p.hostIf}/route_localnet`, "1");
    const n = ["-n", p.netns];
    await ip([...n, "link", "set", "lo", "up"]);
    await ip([...n, "addr", "add", `${p.nsIp}/30`, "dev", p.nsIf]);
    await ip([...n, "link", "set", p.nsIf, "up"]);
    await ip([...n, "tuntap", "add", "dev", TAP, "mode", "tap"]);
    await ip([...n, "addr", "add", `${TAP_GW}/24`, "dev", TAP]);
    await ip([...n, "link", "set", TAP, "up"]);
    await ip([...n, "route", "add", "default", "via", p.hostIp]);
    await exec("ip", ["netns", "exec", p.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await exec("ip", ["netns", "exec", p.netns, "nft", "-f", "-"], { input: nsTableScript(p) });
    await exec("nft", ["-f", "-"], { input: hostTableScript(p, vmId) });
  } catch (e) {
    await teardownNetns(p);
    throw new HostError(`Cannot set up the network namespace for VM ${vmId}: ${(e as Error).message}`, { vmId, cause: e });
  }
  log("%s: netns %s ready in %d ms (ssh via %s)", vmId, p.netns, Date.now() - t0, p.nsIp);
  return {
    mode: "tap",
    nic: { kind: "tap", ifname: TAP, mac: "52:54:00:12:34:56" },
    netns: p.netns,
    sshHost: p.nsIp,
    sshPort: 22,
    guestIp: GUEST_IP,
    bootWords: { ip: `${GUEST_IP}/24`, gw: TAP_GW },
    plan: p,
  };
}

/** Removes the VM's nft table, veth and namespace. Idempotent: what is already gone is skipped. */
export async function teardownNetns(p: NetnsPlan): Promise<void> {
  await execAllowFail("nft", ["delete", "table", "ip", p.table]);
  await execAllowFail("ip", ["link", "del", p.hostIf]); // takes the namespace end with it
  await execAllowFail("ip", ["netns", "del", p.netns]);
}
