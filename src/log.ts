/**
 * Logging through `debug` namespaces, one per subsystem (`smolvm:vmm`, `smolvm:ssh`, ...).
 * `SMOLVM_LOG=info` is a shorthand that turns on every smolvm namespace except the guest console.
 */
import createDebug from "debug";

const shorthand = process.env.SMOLVM_LOG;
if (shorthand && shorthand !== "0" && shorthand !== "off") {
  const extra = shorthand === "debug" || shorthand === "all" ? "smolvm:*" : "smolvm:*,-smolvm:console";
  createDebug.enable([process.env.DEBUG, extra].filter(Boolean).join(","));
}

export type Logger = createDebug.Debugger;

/** A logger for one subsystem, e.g. `logger("net")` writes under `smolvm:net`. */
export function logger(subsystem: string): Logger {
  return createDebug(`smolvm:${subsystem}`);
}
