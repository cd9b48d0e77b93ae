/**
 * Per-VM networking. The VM gets a `VmNetwork` (NIC spec, SSH endpoint, guest addressing), recorded so any
 * process can tear it down. Two modes:
 * - user: QEMU user networking (slirp). No privileges; the guest's SSH port is forwarded to 127.0.0.1.
 * - tap: a network namespace per VM with a TAP device and a veth to the host (root or CAP_NET_ADMIN); see netns.ts.
 */
import type { StateStore } from "../state/store.js";
import type { NicSpec } from "../vmm/vmm.js";
import { setupNetns, teardownNetns, type NetnsPlan } from "./netns.js";
import { freeLocalPort } from "./ports.js";
import { privilegedNetworking } from "./privilege.js";
import { holdHostForwarding, releaseHostForwarding } from "./host-forwarding.js";

/** What the VM is given, and what the state store records so any process can tear it down. */
export interface VmNetwork {
  mode: "user" | "tap";
  nic: NicSpec;
  /** Namespace the VMM runs in (tap mode). */
  netns?: string;
  sshHost: string;
  sshPort: number;
  /** The guest's address as the guest sees it. */
  guestIp: string;
  /** smol.* kernel command line words (ip, gw). */
  bootWords: Record<string, string>;
}

/** The fixed guest addressing of user mode (slirp's defaults). */
const USER_GUEST = { ip: "10.0.2.15", prefix: 24, gw: "10.0.2.2" };

export async function setupUserNetwork(internet = false): Promise<VmNetwork> {
  const sshPort = await freeLocalPort();
  return {
    mode: "user",
    nic: { kind: "user", sshHostPort: sshPort, internet },
    sshHost: "127.0.0.1",
    sshPort,
    guestIp: USER_GUEST.ip,
    bootWords: { ip: `${USER_GUEST.ip}/${USER_GUEST.prefix}`, gw: USER_GUEST.gw },
  };
}

/** What the state store keeps of a VM's network, enough for any process to tear it down. */
export interface NetworkRecord {
  mode: "user" | "tap";
  guestIp: string;
  netns?: string;
  plan?: NetnsPlan;
}

export function networkRecord(net: VmNetwork & { plan?: NetnsPlan }): NetworkRecord {
  return { mode: net.mode, guestIp: net.guestIp, netns: net.netns, plan: net.plan };
}

/** "auto" means tap when this process may manage namespaces and nftables, user otherwise. */
export async function resolveMode(requested: "auto" | "user" | "tap"): Promise<"user" | "tap"> {
  if (requested !== "auto") return requested;
  return (await privilegedNetworking()).ok ? "tap" : "user";
}

/** Sets up the network for one VM in the given mode. */
export async function setupNetwork(mode: "user" | "tap", vmId: string, store: StateStore, internet = false): Promise<VmNetwork & { plan?: NetnsPlan }> {
  if (mode === "user") return setupUserNetwork(internet);
  if (internet) await holdHostForwarding(store, vmId);
  try {
    return await setupNetns(vmId, store.allocateNetSlot(vmId), internet);
  } catch (e) {
    if (internet) await releaseHostForwarding(store, vmId);
    throw e;
  }
}

/** Tears down what `setupNetwork` made (from the record, so any process can). Idempotent. */
export async function teardownNetwork(vmId: string, rec: Partial<NetworkRecord> | undefined, store: StateStore): Promise<void> {
  if (rec?.mode === "tap" && rec.plan) await teardownNetns(rec.plan);
  store.releaseNetSlot(vmId);
  if (rec?.plan?.internet) await releaseHostForwarding(store, vmId);
}
