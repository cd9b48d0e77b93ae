/**
 * Errors raised by smolvm for state and runtime failures. Invalid arguments throw the built-in
 * `TypeError`/`RangeError` instead, naming the argument.
 * @module
 */

const BRAND = Symbol.for("smolvm.error");

/** Extra facts an error can carry; every field is optional. */
export interface SmolVMErrorDetails {
  vmId?: string;
  command?: string;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  durationMs?: number;
  cause?: unknown;
}

/** Root of every smolvm failure. `isSmolVMError()` recognises it across module copies. */
export class SmolVMError extends Error {
  readonly vmId?: string;
  readonly command?: string;
  readonly durationMs?: number;
  constructor(message: string, details: SmolVMErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.vmId = details.vmId;
    this.command = details.command;
    this.durationMs = details.durationMs;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** No VM with that id is recorded. */
export class VMNotFoundError extends SmolVMError {}
/** A VM with that id is already recorded. */
export class VMAlreadyExistsError extends SmolVMError {}
/** The VM is not in a state that allows the operation (for example a command on a stopped VM). */
export class VMStateError extends SmolVMError {}
/** The VM did not boot, or its VMM failed. */
export class VMBootError extends SmolVMError {}
/** The host lacks something smolvm needs (QEMU, a tool, a permission). */
export class HostError extends SmolVMError {}
/** Building or finding the guest image failed. */
export class ImageError extends SmolVMError {}
/** The SSH control channel failed (connect, auth, lost link). */
export class GuestConnectionError extends SmolVMError {}
/** A port forward could not be made or removed. */
export class PortForwardError extends SmolVMError {}

/** A command did not finish: it timed out or was aborted, and was killed in the guest. */
export class CommandError extends SmolVMError {
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly stdout: string;
  readonly stderr: string;
  constructor(
    message: string,
    details: SmolVMErrorDetails & { timedOut?: boolean; aborted?: boolean },
  ) {
    super(message, details);
    this.timedOut = details.timedOut ?? false;
    this.aborted = details.aborted ?? false;
    this.stdout = details.stdout ?? "";
    this.stderr = details.stderr ?? "";
  }
}
/** The command ran longer than its `timeoutMs`. */
export class CommandTimeoutError extends CommandError {}
/** The command's `AbortSignal` fired. */
export class CommandAbortedError extends CommandError {}

for (const cls of [
  SmolVMError, VMNotFoundError, VMAlreadyExistsError, VMStateError, VMBootError, HostError,
  ImageError, GuestConnectionError, PortForwardError, CommandError, CommandTimeoutError,
  CommandAbortedError,
]) {
  Object.defineProperty(cls.prototype, "name", { value: cls.name, configurable: true });
}

/** True for any smolvm error, even one thrown by another copy of this package. */
export function isSmolVMError(value: unknown): value is SmolVMError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
