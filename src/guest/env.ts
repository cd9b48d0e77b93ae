/**
 * Persistent guest environment variables. The truth is /etc/smolvm/env.json in the guest; env.sh is
 * generated from it and sourced by every command (see wrapCommand), so values round-trip exactly.
 */
import { GUEST_ENV_FILE, shellQuote } from "./shell.js";

const ENV_JSON = "/etc/smolvm/env.json";
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names the guest shell itself owns or smolvm uses; setting them would break commands. */
const RESERVED = new Set(["SMOLVM_CMD_ID", "PATH", "HOME", "SHELL", "PWD", "IFS", "USER", "LOGNAME"]);

/** Throws TypeError/RangeError naming the bad variable. */
export function validateEnvVars(vars: unknown): Record<string, string> {
  if (typeof vars !== "object" || vars === null || Array.isArray(vars)) {
    throw new TypeError(`vars must be an object of name → string value, got ${Array.isArray(vars) ? "array" : vars === null ? "null" : typeof vars}`);
  }
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(vars)) {
    validateEnvName(name);
    if (typeof value !== "string") throw new TypeError(`value of env var ${name} must be a string, got ${typeof value}`);
    if (value.includes("\0")) throw new RangeError(`value of env var ${name} must not contain a NUL byte`);
    out[name] = value;
  }
  return out;
}

export function validateEnvName(name: unknown): string {
  if (typeof name !== "string") throw new TypeError(`env var name must be a string, got ${typeof name}`);
  if (!NAME.test(name)) throw new RangeError(`env var name must match [A-Za-z_][A-Za-z0-9_]*, got ${JSON.stringify(name)}`);
  if (RESERVED.has(name)) throw new RangeError(`env var name ${name} is reserved and cannot be set`);
  return name;
}

/** The command that prints the current variables as JSON. */
export const READ_ENV_COMMAND = `cat ${ENV_JSON} 2>/dev/null || echo '{}'`;

export function parseEnvJson(text: string): Record<string, string> {
  const parsed = JSON.parse(text.trim() || "{}") as Record<string, string>;
  return Object.assign(Object.create(null), parsed);
}

/** The command that replaces the guest's variables with `vars` atomically (write then rename). */
export function writeEnvCommand(vars: Record<string, string>): string {
  const json = Buffer.from(JSON.stringify(vars)).toString("base64");
  const sh = Object.entries(vars).map(([k, v]) => `${k}=${shellQuote(v)}`).join("\n") + "\n";
  const shB64 = Buffer.from(sh).toString("base64");
  return [
    "mkdir -p /etc/smolvm",
    `echo ${json} | base64 -d > ${ENV_JSON}.tmp`,
    `echo ${shB64} | base64 -d > ${GUEST_ENV_FILE}.tmp`,
    `mv ${ENV_JSON}.tmp ${ENV_JSON}`,
    `mv ${GUEST_ENV_FILE}.tmp ${GUEST_ENV_FILE}`,
  ].join(" && ");
}
