// smolvm benchmark. Every number is compared with a baseline measured in the same run, on the same image.
// Prints a short table on stderr and JSON on stdout; writes bench/results/latest.json.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, existsSync, openSync } from "node:fs";
import { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { spawn, execFileSync, spawnSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

const home = mkdtempSync(join(tmpdir(), "smolvm-bench-"));
process.env.SMOLVM_IMAGE_DIR ||= join(process.env.HOME, ".local/share/smolvm/images");
process.env.SMOLVM_HOME = home;
const { SmolVM } = await import("../dist/index.js");
const { ensureImage } = await import("../dist/build.js");
const { qemuArgs, kernelCmdline } = await import("../dist/vmm/qemu-args.js");
const { chooseAccelerator, hostTscKhz } = await import("../dist/host/accel.js");
const { generateHostKey, loadOrCreateUserKey } = await import("../dist/guest/keys.js");
const { freeLocalPort } = await import("../dist/net/ports.js");

const RUNS = Number(process.env.BENCH_RUNS || 5);
const MEM = 256;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
const r1 = (x) => Math.round(x * 10) / 10;
const log = (m) => process.stderr.write(`${m}\n`);

const image = await ensureImage({ imagesDir: process.env.SMOLVM_IMAGE_DIR, onProgress: log });
const accel = chooseAccelerator().accel;
const userKey = loadOrCreateUserKey(join(home, "keys"));

/** Raw QEMU: the same kernel, initramfs, CoW disk and command line, spawned directly, timed to the console marker. */
async function rawBoot(i) {
  const dir = join(home, `raw-${i}`);
  mkdirSync(dir);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", image.rootfsPath, "-F", "raw", join(dir, "d.qcow2")]);
  const hk = generateHostKey();
  const args = qemuArgs({
    vmId: `raw${i}`, kernelPath: image.kernelPath, initrdPath: image.initrdPath, diskPath: join(dir, "d.qcow2"),
    memSizeMib: MEM, vcpuCount: 1, accel, nic: { kind: "user", sshHostPort: await freeLocalPort() },
    cmdline: kernelCmdline({ accel, tscKhz: hostTscKhz(), smol: { ip: "10.0.2.15/24", gw: "10.0.2.2", hostname: "raw", authkey: Buffer.from(userKey.publicKey).toString("base64"), hostkey: hk.dropbearBase64 } }),
    serialLogPath: join(dir, "console.log"), qmpSocketPath: join(dir, "qmp.sock"), vmmLogPath: join(dir, "qemu.log"),
  });
  const t0 = performance.now();
  const p = spawn("qemu-system-x86_64", args, { stdio: "ignore" });
  for (;;) {
    if (existsSync(join(dir, "console.log")) && readFileSync(join(dir, "console.log"), "latin1").includes("SMOLVM_READY")) break;
    if (performance.now() - t0 > 60000) throw new Error("raw boot timed out");
    await sleep(5);
  }
  const ms = performance.now() - t0;
  p.kill("SIGKILL");
  await new Promise((r) => p.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

log(`machine: ${cpus()[0].model}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB, accel=${accel}`);
// Interleave raw and smolvm boots so that host noise hits both alike.
const raw = [], cold = [], stopDelete = [];
for (let i = 0; i < RUNS; i++) {
  raw.push(await rawBoot(i));
  const t0 = performance.now();
  const vm = await SmolVM.create({ vmId: `cold-${i}`, memSizeMib: MEM });
  await vm.run("true");
  cold.push(performance.now() - t0);
  const t1 = performance.now();
  await vm.stop();
  await vm.delete();
  stopDelete.push(performance.now() - t1);
  log(`run ${i + 1}/${RUNS}: raw QEMU to marker ${Math.round(raw[i])} ms, SmolVM.create()+run("true") ${Math.round(cold[i])} ms, stop+delete ${Math.round(stopDelete[i])} ms`);
}

// Warm latency on one VM: smolvm run("true") vs OpenSSH with ControlMaster on the same guest.
const vm = await SmolVM.create({ vmId: "warm", memSizeMib: MEM });
for (let i = 0; i < 10; i++) await vm.run("true");
const warm = [];
for (let i = 0; i < 100; i++) { const t = performance.now(); await vm.run("true"); warm.push(performance.now() - t); }
const ep = vm.sshEndpoint();
const sshArgs = ["-q", "-i", ep.identityFile, "-p", String(ep.port), "-o", `UserKnownHostsFile=${ep.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes",
  "-o", "ControlMaster=auto", "-o", `ControlPath=${join(home, "cm.sock")}`, "-o", "ControlPersist=120", `root@${ep.host}`];
spawnSync("ssh", [...sshArgs, "true"]);
for (let i = 0; i < 10; i++) spawnSync("ssh", [...sshArgs, "true"]);
const cm = [];
for (let i = 0; i < 100; i++) { const t = performance.now(); spawnSync("ssh", [...sshArgs, "true"]); cm.push(performance.now() - t); }
spawnSync("ssh", [...sshArgs.slice(0, -1), "-O", "exit", `root@${ep.host}`]);
await sleep(5000); // idle
const pid = vm.info().pid;
const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
await vm.delete();
rmSync(home, { recursive: true, force: true });

const result = {
  machine: { cpu: cpus()[0].model, vcpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), accel, date: new Date().toISOString() },
  coldStart: { runs: RUNS, smolvmMedianMs: r1(median(cold)), rawQemuMedianMs: r1(median(raw)), ratio: r1(median(cold) / median(raw) * 100) / 100, target: 1.15 },
  warmCommand: { n: 100, smolvmP50Ms: r1(pct(warm, 50)), smolvmP95Ms: r1(pct(warm, 95)), controlMasterP50Ms: r1(pct(cm, 50)), controlMasterP95Ms: r1(pct(cm, 95)), ratioP50: r1(pct(warm, 50) / pct(cm, 50) * 100) / 100, target: 1.0 },
  stopDelete: { medianMs: r1(median(stopDelete)), maxMs: r1(Math.max(...stopDelete)), targetMs: 300 },
  idleRss: { guestMib: MEM, rssMB: r1(rssKb / 1024), targetMB: 260 },
};
const row = (name, value, base, target) => `${name.padEnd(34)} ${String(value).padStart(12)} ${String(base).padStart(22)} ${String(target).padStart(10)}`;
log("");
log(row("metric", "smolvm", "baseline (same run)", "target"));
log(row("cold start, median of " + RUNS, `${result.coldStart.smolvmMedianMs} ms`, `raw QEMU ${result.coldStart.rawQemuMedianMs} ms`, `≤1.15× (${result.coldStart.ratio}×)`));
log(row("warm run(\"true\") p50 / p95", `${result.warmCommand.smolvmP50Ms}/${result.warmCommand.smolvmP95Ms} ms`, `ControlMaster ${result.warmCommand.controlMasterP50Ms}/${result.warmCommand.controlMasterP95Ms}`, `≤1.0× (${result.warmCommand.ratioP50}×)`));
log(row("stop()+delete(), median", `${result.stopDelete.medianMs} ms`, "-", "≤300 ms"));
log(row("idle RSS at 256 MiB guest", `${result.idleRss.rssMB} MB`, "-", "≤260 MB"));
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(new URL("./results/latest.json", import.meta.url), JSON.stringify(result, null, 2) + "\n");
process.stdout.write(JSON.stringify(result, null, 2) + "\n");
