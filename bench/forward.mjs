// Port-forwarding benchmark (needs root: nftables and namespace networking). Same run, same guest, same
// busy-box httpd: 100 MB download and p50 of 100 fresh connections through nftables, the SSH tunnel,
// OpenSSH `ssh -L`, and a direct connection to the guest's address from the host namespace.
// Prints a table on stderr, JSON on stdout; writes bench/results/forward.json.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const home = mkdtempSync(join(tmpdir(), "smolvm-bench-"));
process.env.SMOLVM_IMAGE_DIR ||= join(process.env.HOME, ".local/share/smolvm/images");
process.env.SMOLVM_HOME = home;
const { SmolVM } = await import("../dist/index.js");
const log = (m) => process.stderr.write(`${m}\n`);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const r1 = (x) => Math.round(x * 10) / 10;
const SIZE = 100_000_000;

/** GET path from host:port; resolves with [bytes, ms]. */
function download(host, port, path) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    let n = 0;
    request({ host, port, path, agent: false }, (res) => {
      res.on("data", (c) => (n += c.length));
      res.on("end", () => resolve([n, performance.now() - t]));
    }).on("error", reject).end();
  });
}

/** Measures every path in rounds, one after the other within each round, so host noise hits all alike. */
async function measureAll(paths, rounds = 5) {
  const lat = Object.fromEntries(paths.map((p) => [p.name, []]));
  const mbps = Object.fromEntries(paths.map((p) => [p.name, []]));
  for (const p of paths) for (let i = 0; i < 3; i++) await download(p.host, p.port, "/s"); // warm
  for (let r = 0; r < rounds; r++) {
    for (const p of paths) {
      for (let i = 0; i < 20; i++) lat[p.name].push((await download(p.host, p.port, "/s"))[1]);
      const [n, ms] = await download(p.host, p.port, "/big");
      if (n !== SIZE) throw new Error(`${p.name}: got ${n} bytes`);
      mbps[p.name].push(SIZE / 1e6 / (ms / 1000));
    }
  }
  return paths.map((p) => {
    const res = { path: p.name, throughputMBps: r1(median(mbps[p.name])), latencyP50Ms: r1(median(lat[p.name])), downloads: rounds, connections: rounds * 20 };
    log(`${p.name.padEnd(12)} ${String(res.throughputMBps).padStart(8)} MB/s   p50 ${res.latencyP50Ms} ms`);
    return res;
  });
}

async function exposeMs(vm, transport) {
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const p = await vm.exposeLocal({ guestPort: 8000, transport });
    times.push(performance.now() - t);
    await vm.unexposeLocal({ hostPort: p });
  }
  return r1(median(times));
}

const vm = await SmolVM.create({ vmId: "fwdbench", memSizeMib: 1024, network: "tap" });
let sshL;
try {
  await vm.run(`mkdir -p /tmp/www && head -c ${SIZE} /dev/urandom > /tmp/www/big && echo ok > /tmp/www/s && busybox httpd -p 8000 -h /tmp/www`, { timeoutMs: 120_000 });
  const ep = vm.sshEndpoint();
  const lport = 20000 + Math.floor(Math.random() * 20000);
  sshL = spawn("ssh", ["-N", "-q", "-i", ep.identityFile, "-p", String(ep.port), "-o", `UserKnownHostsFile=${ep.knownHostsFile}`,
    "-o", "StrictHostKeyChecking=yes", "-L", `127.0.0.1:${lport}:127.0.0.1:8000`, `${ep.user}@${ep.host}`], { stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((r) => { const s = connect(lport, "127.0.0.1"); s.once("connect", () => (s.destroy(), r(true))); s.once("error", () => r(false)); });
    if (up) break;
    await sleep(20);
  }
  const results = await measureAll([
    { name: "direct", host: ep.host, port: 8000 },
    { name: "nftables", host: "127.0.0.1", port: await vm.exposeLocal({ guestPort: 8000, transport: "nftables" }) },
    { name: "ssh_tunnel", host: "127.0.0.1", port: await vm.exposeLocal({ guestPort: 8000, transport: "ssh_tunnel" }) },
    { name: "ssh -L", host: "127.0.0.1", port: lport },
  ]);
  const by = Object.fromEntries(results.map((r) => [r.path, r]));
  const expose = { nftablesMs: await exposeMs(vm, "nftables"), sshTunnelMs: await exposeMs(vm, "ssh_tunnel") };
  const out = {
    machine: { cpu: cpus()[0].model, vcpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), date: new Date().toISOString() },
    results,
    ratios: {
      nftablesThroughputVsDirect: r1((by.nftables.throughputMBps / by.direct.throughputMBps) * 100) / 100, targetMin: 0.9,
      nftablesLatencyVsDirect: r1((by.nftables.latencyP50Ms / by.direct.latencyP50Ms) * 100) / 100, targetMax: 1.1,
      sshTunnelThroughputVsSshL: r1((by.ssh_tunnel.throughputMBps / by["ssh -L"].throughputMBps) * 100) / 100, targetMinTunnel: 1.0,
    },
    exposeLocal: { ...expose, targetNftablesMs: 100, targetSshTunnelMs: 500 },
  };
  log(`exposeLocal: nftables ${expose.nftablesMs} ms, ssh_tunnel ${expose.sshTunnelMs} ms`);
  log(`ratios: ${JSON.stringify(out.ratios)}`);
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/forward.json", import.meta.url), JSON.stringify(out, null, 2) + "\n");
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
} finally {
  sshL?.kill();
  await vm.delete();
  rmSync(home, { recursive: true, force: true });
}
