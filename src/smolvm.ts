/**
 * `SmolVM`: the handle users hold. It validates, delegates each step to its module (vm/boot, guest/*,
 * state/*) and keeps the lifecycle rules: created → running → stopped, errors on the wrong state,
 * idempotent and serialised stop/delete, and `await using` cleanup for the handle that created the VM.
 */
import { writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { resolveConfig, validateVmId, type ResolvedConfig, type VMConfig } from "./config.js";
import { defaultContext, type SmolContext } from "./context.js";
import { VMNotFoundError, VMStateError, SmolVMError } from "./errors.js";
import { isAlive } from "./host/process.js";
import type { ProgressListener } from "./image/build.js";
import { runCommand, type RunOptions, type RunResult } from "./guest/command.js";
import { parseEnvJson, READ_ENV_COMMAND, validateEnvName, validateEnvVars, writeEnvCommand } from "./guest/env.js";
import { loadOrCreateUserKey } from "./guest/keys.js";
import { GuestConnection } from "./guest/ssh.js";
import { logger } from "./log.js";
import type { VMRecord, VMStatus } from "./state/store.js";
import { sweep, type SweepReport } from "./state/sweep.js";
import { bootVm, vmFiles } from "./vm/boot.js";
import type { LaunchedVm } from "./vmm/vmm.js";
import { ForwardManager } from "./net/forwards.js";
import { teardownNetwork, type NetworkRecord } from "./net/network.js";
import type { ExposeOptions, Forward } from "./net/forward.js";

const log = logger("vm");

/** Options for how a handle works, as opposed to what the VM is (that is `VMConfig`). */
export interface SmolVMOptions {
  /** Progress of long steps (building the image on first use). The library never prints by itself. */
  onProgress?: ProgressListener;
  /** Use this context (paths, state store, VMM) instead of the one made from the environment. */
  context?: SmolContext;
  /**
   * Forwards made through this handle outlive the process (as the CLI's do): they last until unexposed
   * or the VM stops. By default a forward belongs to its process and `smolvm cleanup` removes it once
   * that process is gone.
   * @default false
   */
  persistentForwards?: boolean;
}

/** Options accepted by every long-running call. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** How to reach a running guest with an ordinary SSH client. */
export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  /** The per-user private key. */
  identityFile: string;
  /** A known_hosts line pinning the guest's host key. */
  knownHostsLine: string;
  /** A known_hosts file holding just that line (for `ssh -o UserKnownHostsFile=...`). */
  knownHostsFile: string;
}

/** A VM as `SmolVM.list()` reports it. */
export interface VMInfo {
  vmId: string;
  status: VMStatus;
  memSizeMib: number;
  vcpuCount: number;
  pid?: number;
  sshPort?: number;
  network?: string;
  createdAt: string;
  error?: string;
}

/** Reconciles a record with reality: "running" with a dead QEMU is recorded and reported as "error". */
function liveStatus(ctx: SmolContext, rec: VMRecord): VMRecord {
  const alive = !!rec.pid && !!rec.pidStartTime && isAlive({ pid: rec.pid, startTime: rec.pidStartTime });
  // "created" with a dead QEMU: the process that was starting it died before it finished.
  const stale = rec.status === "created" && !!rec.pid && !alive && Date.now() - rec.updatedAt > rec.config.bootTimeoutMs;
  if ((rec.status === "running" && !alive) || stale) {
    const error = stale ? "start did not finish (the starting process died)" : "QEMU process exited unexpectedly";
    ctx.store.updateVm(rec.id, { status: "error", error });
    return { ...rec, status: "error", error };
  }
  return rec;
}

function infoOf(rec: VMRecord): VMInfo {
  return {
    vmId: rec.id, status: rec.status, memSizeMib: rec.config.memSizeMib, vcpuCount: rec.config.vcpuCount,
    pid: rec.status === "running" ? rec.pid : undefined, sshPort: rec.status === "running" ? rec.sshPort : undefined,
    network: (rec.network?.mode as string | undefined) ?? rec.config.network,
    createdAt: new Date(rec.createdAt).toISOString(), error: rec.error,
  };
}

/**
 * A microVM sandbox.
 *
 * @example
 * ```ts
 * await using vm = await SmolVM.create({ memSizeMib: 512 });
 * const r = await vm.run("uname -a");
 * console.log(r.stdout);
 * ```
 */
export class SmolVM implements AsyncDisposable {
  private readonly ctx: SmolContext;
  private readonly cfg: ResolvedConfig;
  private readonly onProgress?: ProgressListener;
  private readonly persistentForwards: boolean;
  private state: VMStatus | "deleted";
  private conn?: GuestConnection;
  private launched?: LaunchedVm;
  /** True when this handle created the VM record: only the creator's disposal deletes the VM. */
  private owner = false;
  /** True for handles made by `fromId()`: they attach to an existing record instead of creating one. */
  private attached = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly forwards: ForwardManager;

  /**
   * Describes a VM; nothing runs until `start()`.
   * @param config what the VM is made of; every field optional.
   * @throws {TypeError | RangeError} when a config field is invalid, naming the field.
   */
  constructor(config: VMConfig = {}, options: SmolVMOptions = {}) {
    this.cfg = resolveConfig(config);
    this.ctx = options.context ?? defaultContext();
    this.onProgress = options.onProgress;
    this.persistentForwards = options.persistentForwards ?? false;
    this.state = "created";
    this.forwards = new ForwardManager(this.ctx.store, this.cfg.vmId);
  }

  /**
   * Creates and starts a VM. Disposing the returned handle (`await using`) stops and deletes it.
   * @throws {VMAlreadyExistsError} when `vmId` is taken.
   * @throws {VMBootError} when the guest does not boot.
   */
  static async create(config: VMConfig = {}, options: SmolVMOptions & CallOptions = {}): Promise<SmolVM> {
    const vm = new SmolVM(config, options);
    await vm.start({ signal: options.signal });
    return vm;
  }

  /**
   * Attaches to a VM recorded by any process. Disposing the handle only closes its connection.
   * @throws {VMNotFoundError} when no VM has that id.
   */
  static async fromId(vmId: string, options: SmolVMOptions = {}): Promise<SmolVM> {
    validateVmId(vmId);
    const ctx = options.context ?? defaultContext();
    await ctx.swept;
    const rec = ctx.store.getVm(vmId);
    if (!rec) throw new VMNotFoundError(`No VM named ${vmId} exists; see "smolvm list".`, { vmId });
    const vm = new SmolVM(rec.config, { ...options, context: ctx });
    vm.state = liveStatus(ctx, rec).status;
    vm.attached = true;
    return vm;
  }

  /** Every recorded VM with its true status (a VM whose QEMU died is reported as "error"). */
  static async list(options: Pick<SmolVMOptions, "context"> = {}): Promise<VMInfo[]> {
    const ctx = options.context ?? defaultContext();
    await ctx.swept;
    return ctx.store.listVms().map((r) => infoOf(liveStatus(ctx, r)));
  }

  /**
   * Removes what dead processes left: forwards whose owner is gone or whose VM stopped, and the network
   * of VMs whose QEMU died. Forwards made persistently (by the CLI) stay. Runs by itself at start-up.
   */
  static async cleanup(options: Pick<SmolVMOptions, "context"> = {}): Promise<SweepReport> {
    const ctx = options.context ?? defaultContext();
    await ctx.swept;
    return sweep(ctx.store);
  }

  /** The VM's unique name. */
  get vmId(): string {
    return this.cfg.vmId;
  }

  /** The resolved configuration (defaults filled in). */
  get config(): Readonly<ResolvedConfig> {
    return this.cfg;
  }

  /** "created" before the first start, then "running", "stopped" or "error". Refreshed from the store. */
  get status(): VMStatus {
    if (this.state === "deleted") return "stopped";
    const rec = this.ctx.store.getVm(this.vmId);
    if (rec) this.state = liveStatus(this.ctx, rec).status;
    return this.state;
  }

  /** The VM as recorded, or undefined once deleted. */
  info(): VMInfo | undefined {
    const rec = this.ctx.store.getVm(this.vmId);
    return rec && infoOf(liveStatus(this.ctx, rec));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private assertNotDeleted(action: string): void {
    if (this.state === "deleted") throw new VMStateError(`Cannot ${action}: VM ${this.vmId} was deleted; create a new one.`, { vmId: this.vmId });
  }

  /**
   * Boots the VM; resolves once commands can run. Builds the default image first if it is missing.
   * @throws {VMAlreadyExistsError} when a new VM's id is taken.
   * @throws {VMStateError} when the VM is already running.
   */
  start(opts: CallOptions = {}): Promise<this> {
    return this.serial(async () => {
      this.assertNotDeleted("start VM");
      opts.signal?.throwIfAborted();
      await this.ctx.swept;
      let rec = this.ctx.store.getVm(this.vmId);
      // A fresh handle always creates a record (a taken id is refused); an attached one restarts its VM.
      const isNew = !this.attached && !this.owner;
      if (isNew) {
        this.ctx.store.insertVm({ id: this.vmId, status: "created", config: this.cfg, dir: join(this.ctx.paths.vms, this.vmId) });
        this.owner = true;
        rec = this.ctx.store.getVm(this.vmId)!;
      } else if (!rec) {
        throw new VMStateError(`Cannot start VM ${this.vmId}: it was deleted; create a new one.`, { vmId: this.vmId });
      } else if (liveStatus(this.ctx, rec).status === "running") {
        throw new VMStateError(`Cannot start VM ${this.vmId}: it is already running.`, { vmId: this.vmId });
      }
      try {
        const booted = await bootVm(this.ctx, rec, { onProgress: this.onProgress, signal: opts.signal });
        this.conn = booted.conn;
        this.launched = booted.launched;
        this.ctx.store.updateVm(this.vmId, { status: "running", error: null });
        this.state = "running";
        log("%s: started (%s networking, %s)", this.vmId, booted.network.mode, booted.accel);
        return this;
      } catch (e) {
        if (isNew) {
          // Undo everything this start created: the record and the VM folder.
          await rm(rec.dir, { recursive: true, force: true });
          this.ctx.store.deleteVm(this.vmId);
          this.owner = false;
          this.state = "created";
        } else {
          this.ctx.store.updateVm(this.vmId, { status: "stopped", pid: null, pidStartTime: null });
          this.state = "stopped";
        }
        throw e;
      }
    });
  }

  /** The live connection, reconnecting from the record if this handle has none. */
  private async connection(action: string): Promise<GuestConnection> {
    this.assertNotDeleted(action);
    const status = this.status;
    if (status !== "running") {
      const hint = status === "error" ? "its QEMU process is gone; delete it and create a new one" : "start it first";
      throw new VMStateError(`Cannot ${action}: VM is ${status} (${hint}).`, { vmId: this.vmId });
    }
    if (this.conn?.isOpen) return this.conn;
    const rec = this.ctx.store.getVm(this.vmId)!;
    const key = loadOrCreateUserKey(this.ctx.paths.keys);
    this.conn = await GuestConnection.connect(
      { host: rec.sshHost!, port: rec.sshPort!, privateKey: key.privateKey, hostKeyBlob: rec.hostKey!, vmId: this.vmId },
      { deadline: Date.now() + 15_000 },
    );
    return this.conn;
  }

  /**
   * Runs a shell command line in the guest. A non-zero exit is a result (`ok` false), not an error.
   * Commands that start background jobs (`server &`) return once the shell exits.
   * @param command a shell command line, run by /bin/sh in the guest.
   * @throws {CommandTimeoutError} after `timeoutMs`; the command is killed in the guest.
   * @throws {CommandAbortedError} when `signal` aborts; the command is killed in the guest.
   * @throws {VMStateError} when the VM is not running.
   */
  async run(command: string, opts: RunOptions = {}): Promise<RunResult> {
    if (typeof command !== "string") throw new TypeError(`command must be a string, got ${typeof command}`);
    if (command.trim() === "") throw new RangeError("command must not be empty");
    if (opts.timeoutMs !== undefined && (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs < 1)) {
      throw new RangeError(`timeoutMs must be a positive integer, got ${opts.timeoutMs}`);
    }
    opts.signal?.throwIfAborted();
    const conn = await this.connection("run command");
    return runCommand(conn, command, opts);
  }

  /** Runs a smolvm-internal command and fails with a SmolVMError unless it exits 0. */
  private async runChecked(command: string, what: string): Promise<string> {
    const r = await runCommand(await this.connection(what), command, { timeoutMs: 30_000 });
    if (!r.ok) throw new SmolVMError(`Could not ${what} in VM ${this.vmId}: ${r.stderr.trim() || `exit ${r.exitCode}`}.`, { vmId: this.vmId });
    return r.stdout;
  }

  /**
   * Persists environment variables in the guest; every later `run()` sees them. Merges with those already set.
   * @throws {TypeError | RangeError} for a bad name (must match [A-Za-z_][A-Za-z0-9_]*) or a non-string value.
   */
  async setEnvVars(vars: Record<string, string>): Promise<void> {
    const add = validateEnvVars(vars);
    const current = parseEnvJson(await this.runChecked(READ_ENV_COMMAND, "read env vars"));
    await this.runChecked(writeEnvCommand({ ...current, ...add }), "set env vars");
  }

  /** Removes persisted environment variables; names not set are ignored. */
  async unsetEnvVars(names: string[]): Promise<void> {
    if (!Array.isArray(names)) throw new TypeError(`names must be an array of strings, got ${typeof names}`);
    names.forEach((n) => validateEnvName(n));
    const current = parseEnvJson(await this.runChecked(READ_ENV_COMMAND, "read env vars"));
    for (const n of names) delete current[n];
    await this.runChecked(writeEnvCommand(current), "unset env vars");
  }

  /** The persisted environment variables. */
  async listEnvVars(): Promise<Record<string, string>> {
    return { ...parseEnvJson(await this.runChecked(READ_ENV_COMMAND, "read env vars")) };
  }

  /**
   * Exposes a guest port on the host's 127.0.0.1 only, and returns the host port actually used: the
   * requested one, or a free one when it is omitted or busy (an existing host listener keeps its port).
   * Forwards end with `unexposeLocal`, `stop()`, `delete()` and disposal.
   * @throws {RangeError} when guestPort/hostPort is not an integer 1-65535.
   * @throws {VMStateError} when the VM is not running (`Cannot expose port: VM is stopped`).
   * @throws {PortForwardError} when every transport fails; the message lists each attempt.
   * @example
   * await vm.run("python3 -m http.server 8000 > /dev/null 2>&1 &");
   * const port = await vm.exposeLocal({ guestPort: 8000, hostPort: 8000 });
   */
  async exposeLocal(options: ExposeOptions): Promise<number> {
    const conn = await this.connection("expose port");
    const network = this.ctx.store.getVm(this.vmId)?.network as Partial<NetworkRecord> | undefined;
    return this.forwards.expose({ conn, network, persistent: this.persistentForwards }, options);
  }

  /** Removes a forward made by `exposeLocal`. Idempotent. @throws {RangeError} for a bad port. */
  async unexposeLocal(options: { hostPort: number; guestPort?: number }): Promise<void> {
    await this.forwards.unexpose(options);
  }

  /** The VM's port forwards, as recorded by any process. */
  async listForwards(): Promise<Forward[]> {
    return this.forwards.list();
  }

  /** Stops the VM (its disk is kept; `start()` boots it again). Idempotent. */
  stop(): Promise<void> {
    return this.serial(async () => {
      if (this.state === "deleted") return;
      const rec = this.ctx.store.getVm(this.vmId);
      if (!rec) return;
      await this.halt(rec);
      this.ctx.store.updateVm(this.vmId, { status: "stopped", pid: null, pidStartTime: null, error: null });
      this.state = "stopped";
      log("%s: stopped", this.vmId);
    });
  }

  /** Kills the VMM process if it is still ours and drops the connection. */
  private async halt(rec: VMRecord): Promise<void> {
    await this.forwards.closeAll(rec.network as Partial<NetworkRecord> | undefined);
    this.conn?.close();
    this.conn = undefined;
    const proc = this.launched?.process ?? (rec.pid && rec.pidStartTime ? { pid: rec.pid, startTime: rec.pidStartTime } : undefined);
    if (proc) await this.ctx.vmm.kill({ process: proc }, vmFiles(rec.dir).qmp);
    this.launched = undefined;
    await teardownNetwork(rec.id, rec.network as Partial<NetworkRecord> | undefined, this.ctx.store);
  }

  /** Stops the VM if needed and removes its disk, files and record. Idempotent. */
  delete(): Promise<void> {
    return this.serial(async () => {
      if (this.state === "deleted") return;
      const rec = this.ctx.store.getVm(this.vmId);
      if (rec) {
        await this.halt(rec);
        await rm(rec.dir, { recursive: true, force: true });
        this.ctx.store.deleteVm(this.vmId);
      }
      this.state = "deleted";
      log("%s: deleted", this.vmId);
    });
  }

  /**
   * Where and how to reach the guest's SSH server with any SSH client.
   * @throws {VMStateError} when the VM is not running.
   */
  sshEndpoint(): SshEndpoint {
    const rec = this.ctx.store.getVm(this.vmId);
    if (!rec || liveStatus(this.ctx, rec).status !== "running") {
      throw new VMStateError(`Cannot reach SSH: VM is ${rec ? liveStatus(this.ctx, rec).status : "deleted"} (start it first).`, { vmId: this.vmId });
    }
    const known = `${rec.sshPort === 22 ? rec.sshHost : `[${rec.sshHost}]:${rec.sshPort}`} ssh-ed25519 ${rec.hostKey}`;
    const knownHostsFile = vmFiles(rec.dir).knownHosts;
    writeFileSync(knownHostsFile, known + "\n");
    return { host: rec.sshHost!, port: rec.sshPort!, user: "root", identityFile: loadOrCreateUserKey(this.ctx.paths.keys).path, knownHostsLine: known, knownHostsFile };
  }

  /** The guest's serial console log (kernel messages and smolvm's boot script), kept across restarts. */
  get consoleLogPath(): string {
    return vmFiles(this.ctx.store.getVm(this.vmId)?.dir ?? join(this.ctx.paths.vms, this.vmId)).serialLog;
  }

  /** Closes this handle's SSH connection; the VM keeps running. */
  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  /** `await using`: the handle that created the VM deletes it; any other handle just closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.owner) await this.delete();
    else {
      await this.forwards.closeOwn();
      this.close();
    }
  }
}
