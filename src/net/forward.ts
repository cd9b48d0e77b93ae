/** Port-forward requests: validation and the shape of a forward. */

export type Transport = "nftables" | "ssh_tunnel";

/** A forward from 127.0.0.1:hostPort on the host to guestPort in the VM. */
export interface Forward {
  hostPort: number;
  guestPort: number;
  transport: Transport;
}

export interface ExposeOptions {
  /** The port inside the guest. */
  guestPort: number;
  /** The host port wanted on 127.0.0.1. When omitted or busy, a free one is chosen and returned. */
  hostPort?: number;
  /** Force a transport. @default "auto" (nftables first, then the SSH tunnel) */
  transport?: "auto" | Transport;
}

export function validatePort(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new RangeError(`${name} must be 1-65535, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function validateExpose(opts: unknown): Required<Pick<ExposeOptions, "guestPort" | "transport">> & { hostPort?: number } {
  if (typeof opts !== "object" || opts === null) throw new TypeError(`exposeLocal needs an options object { guestPort, hostPort?, transport? }, got ${opts === null ? "null" : typeof opts}`);
  const o = opts as ExposeOptions;
  const transport = o.transport ?? "auto";
  if (!["auto", "nftables", "ssh_tunnel"].includes(transport)) {
    throw new RangeError(`transport must be "auto", "nftables" or "ssh_tunnel", got ${JSON.stringify(transport)}`);
  }
  return {
    guestPort: validatePort("guestPort", o.guestPort),
    hostPort: o.hostPort === undefined ? undefined : validatePort("hostPort", o.hostPort),
    transport,
  };
}
