/**
 * Per-VM networking. The VM gets a `VmNetwork` (NIC spec, SSH endpoint, guest addressing), recorded so any
 * process can tear it down. Mode today:
 * - user: QEMU user networking (slirp). No privileges; the guest's SSH port is forwarded to 127.0.0.1.
 * Planned: tap, a per-VM network namespace with a TAP device and a veth to the host (root/CAP_NET_ADMIN);
 * `NicSpec` and `VmNetwork.netns` already carry what it needs.
 */
import type { NicSpec } from "../vmm/vmm.js";
import { freeLocalPort } from "./ports.js";

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

export async function setupUserNetwork(): Promise<VmNetwork> {
  const sshPort = await freeLocalPort();
  return {
    mode: "user",
    nic: { kind: "user", sshHostPort: sshPort },
    sshHost: "127.0.0.1",
    sshPort,
    guestIp: USER_GUEST.ip,
    bootWords: { ip: `${USER_GUEST.ip}/${USER_GUEST.prefix}`, gw: USER_GUEST.gw },
  };
}

/** Sets up the network for one VM in the mode the config asks for. */
export async function setupNetwork(requested: "auto" | "user"): Promise<VmNetwork> {
  switch (requested) {
    case "auto":
    case "user":
      return setupUserNetwork();
  }
}
