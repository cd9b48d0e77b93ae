/**
 * smolvm: real microVM sandboxes on a Linux host, from Node.
 * @packageDocumentation
 */
export { SmolVM, type SmolVMOptions, type CallOptions, type VMInfo, type SshEndpoint } from "./smolvm.js";
export type { VMConfig, ResolvedConfig, NetworkMode } from "./config.js";
export { RunResult, type RunOptions } from "./guest/command.js";
export type { VMStatus } from "./state/store.js";
export {
  SmolVMError, VMNotFoundError, VMAlreadyExistsError, VMStateError, VMBootError, HostError, ImageError,
  GuestConnectionError, PortForwardError, CommandError, CommandTimeoutError, CommandAbortedError, isSmolVMError,
  type SmolVMErrorDetails,
} from "./errors.js";
export { doctor, type DoctorReport, type DoctorCheck } from "./host/doctor.js";
export { chooseAccelerator, type Accelerator, type AcceleratorChoice } from "./host/accel.js";
export type { ExposeOptions, Forward, Transport } from "./net/forward.js";
export type { SweepReport } from "./state/sweep.js";
