/**
 * Starting a VM, step by step: image → disk → network → VMM → readiness marker → SSH → record.
 * If any step fails, what the earlier steps made is undone before the error is rethrown.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SmolContext } from "../context.js";
import { VMBootError } from "../errors.js";
import { chooseAccelerator, hostTscKhz, type Accelerator } from "../host/accel.js";
import { exec } from "../host/exec.js";
import { isAlive } from "../host/process.js";
import { ensureImage, type ProgressListener } from "../image/build.js";
import { generateHostKey, loadOrCreateUserKey } from "../guest/keys.js";
import { GuestConnection } from "../guest/ssh.js";
import { logger } from "../log.js";
import { networkRecord, resolveMode, setupNetwork, teardownNetwork, type VmNetwork } from "../net/network.js";
import type { VMRecord } from "../state/store.js";
import { consoleTail, waitForReady } from "../vmm/console.js";
import { kernelCmdline } from "../vmm/qemu-args.js";
import type { LaunchedVm } from "../vmm/vmm.js";

const log = logger("vmm");

/** Per-VM file layout inside its folder. */
export function vmFiles(dir: string) {
  return {
    disk: join(dir, "disk.qcow2"),
    serialLog: join(dir, "console.log"),
    vmmLog: join(dir, "qemu.log"),
    qmp: join(dir, "qmp.sock"),
    knownHosts: join(dir, "known_hosts"),
  };
}

export interface BootOptions {
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface BootedVm {
  conn: GuestConnection;
  launched: LaunchedVm;
  network: VmNetwork;
  accel: Accelerator;
}

interface BootFiles {
  kernel: string;
  initrd?: string;
  rootfs: string;
}

async function bootFiles(ctx: SmolContext, rec: VMRecord, opts: BootOptions): Promise<BootFiles> {
  const c = rec.config;
  if (c.kernelPath && c.rootfsPath) return { kernel: c.kernelPath, initrd: c.initrdPath, rootfs: c.rootfsPath };
  const image = await ensureImage({ imagesDir: ctx.paths.images, onProgress: opts.onProgress });
  return {
    kernel: c.kernelPath ?? image.kernelPath,
    initrd: c.kernelPath ? c.initrdPath : image.initrdPath,
    rootfs: c.rootfsPath ?? image.rootfsPath,
  };
}

/** Boots the recorded VM and returns a ready SSH connection. The record is updated as it goes. */
export async function bootVm(ctx: SmolContext, rec: VMRecord, opts: BootOptions = {}): Promise<BootedVm> {
  const started = Date.now();
  const deadline = started + rec.config.bootTimeoutMs;
  const files = vmFiles(rec.dir);
  const boot = await bootFiles(ctx, rec, opts);
  for (const [what, p] of Object.entries(boot)) {
    if (p && !existsSync(p)) throw new VMBootError(`The ${what} file ${p} does not exist; check the path in the VM config.`, { vmId: rec.id });
  }
  await mkdir(rec.dir, { recursive: true });
  if (!existsSync(files.disk)) {
    // Copy-on-write over the base image: the base is opened read-only and never modified.
    await exec("qemu-img", ["create", "-q", "-f", "qcow2", "-b", boot.rootfs, "-F", "raw", files.disk]);
  }
  const userKey = loadOrCreateUserKey(ctx.paths.keys);
  let accel = chooseAccelerator().accel;
  const mode = await resolveMode(rec.config.network);
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    const network = await setupNetwork(mode, rec.id, ctx.store, rec.config.internet);
    const hostKey = generateHostKey();
    const cmdline = kernelCmdline({
      accel,
      tscKhz: hostTscKhz(),
      smol: {
        ...network.bootWords,
        hostname: rec.id,
        authkey: Buffer.from(userKey.publicKey).toString("base64"),
        hostkey: hostKey.dropbearBase64,
      },
      extra: rec.config.bootArgs,
    });
    // Recorded before QEMU starts, so that a crash from here on leaves a record any process can clean up.
    ctx.store.updateVm(rec.id, { network: networkRecord(network) });
    const launched = await ctx.vmm
      .launch({
        vmId: rec.id, kernelPath: boot.kernel, initrdPath: boot.initrd, diskPath: files.disk,
        memSizeMib: rec.config.memSizeMib, vcpuCount: rec.config.vcpuCount, accel, cmdline, nic: network.nic,
        serialLogPath: files.serialLog, qmpSocketPath: files.qmp, vmmLogPath: files.vmmLog, netns: network.netns,
      })
      .catch(async (e) => {
        await teardownNetwork(rec.id, networkRecord(network), ctx.store);
        throw e;
      });
    ctx.store.updateVm(rec.id, {
      pid: launched.process.pid, pidStartTime: launched.process.startTime, sshHost: network.sshHost,
      sshPort: network.sshPort, hostKey: hostKey.publicBlobBase64,
    });
    try {
      await waitForReady({ serialLogPath: files.serialLog, deadline, isAlive: () => isAlive(launched.process), vmId: rec.id, signal: opts.signal });
      log("%s: console ready after %d ms", rec.id, Date.now() - started);
      const conn = await GuestConnection.connect(
        { host: network.sshHost, port: network.sshPort, privateKey: userKey.privateKey, hostKeyBlob: hostKey.publicBlobBase64, vmId: rec.id },
        { deadline, signal: opts.signal },
      );
      log("%s: ssh ready after %d ms (accel=%s)", rec.id, Date.now() - started, accel);
      return { conn, launched, network, accel };
    } catch (e) {
      await ctx.vmm.kill(launched, files.qmp);
      await teardownNetwork(rec.id, networkRecord(network), ctx.store);
      const vmmLog = await readFile(files.vmmLog, "utf8").catch(() => "");
      const retry = attempt < 3 && /host forwarding rule|Could not set up host forwarding/.test(vmmLog)
        ? "ssh port taken"
        : attempt < 3 && accel === "kvm" && !isAlive(launched.process) && e instanceof VMBootError
          ? "kvm failed"
          : undefined;
      if (!retry) {
        if (e instanceof VMBootError) {
          const tail = (await consoleTail(files.serialLog, 4)) || vmmLog.trim().split("\n").slice(-3).join("\n");
          throw new VMBootError(`${e.message}${tail ? `\nLast output:\n${tail}` : ""}`, { vmId: rec.id, cause: e.cause });
        }
        throw e;
      }
      log("%s: boot attempt %d failed (%s), retrying", rec.id, attempt, retry);
      if (retry === "kvm failed") accel = "tcg";
    }
  }
}
