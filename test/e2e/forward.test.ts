/**
 * exposeLocal end to end: real guests, real HTTP from the host, every scenario through each transport this
 * host can use (nftables needs root; the SSH tunnel works everywhere, and CI also runs this file unprivileged).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect, type Server } from "node:net";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { assertNothingLeft, PRIVILEGED, removeTestHome } from "../helpers/env.js";
import { SmolVM, VMStateError, PortForwardError, type Transport } from "../../dist/index.js";

const TRANSPORTS: Transport[] = PRIVILEGED ? ["nftables", "ssh_tunnel"] : ["ssh_tunnel"];
const IDS = ["fwd1", "fwd2", "fwd3", "fwd4", "fwd5", "fwduser", "fwdnet"];

/** GET on 127.0.0.1:port; the status and body, or the connection error code. */
function get(port: number, path = "/"): Promise<{ status?: number; body?: string; error?: string }> {
  return fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(15_000) }).then(
    async (r) => ({ status: r.status, body: await r.text() }),
    (e: Error & { cause?: { code?: string } }) => ({ error: e.cause?.code ?? e.message }),
  );
}

/** Starts python's http.server in the guest serving a file "who", and waits until it answers. */
async function serve(vm: SmolVM, port: number, text: string): Promise<void> {
  await vm.run(`mkdir -p /srv/${port} && printf '%s' '${text}' > /srv/${port}/who && cd /srv/${port} && python3 -m http.server ${port} > /dev/null 2>&1 &`);
  const probe = `python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:${port}/who')"`;
  for (let i = 0; i < 60; i++) if ((await vm.run(probe)).ok) return;
  throw new Error(`guest server on ${port} never answered`);
}

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
}

let vm1: SmolVM;
let vm2: SmolVM;
before(async () => {
  vm1 = await SmolVM.create({ vmId: "fwd1", memSizeMib: 256 });
  vm2 = await SmolVM.create({ vmId: "fwd2", memSizeMib: 256 });
  await Promise.all([serve(vm1, 8000, "vm1").then(() => serve(vm1, 8080, "vm1-8080")), serve(vm2, 8000, "vm2")]);
});
after(async () => {
  await vm1?.delete();
  await vm2?.delete();
  await assertNothingLeft(IDS, { anyQemu: true });
  removeTestHome();
});

for (const transport of TRANSPORTS) {
  describe(`exposeLocal, transport ${transport}`, () => {
    test("quick start: a specific host port serves the guest's http.server and is listed; unexpose refuses after", async () => {
      const wanted = await freePort();
      const port = await vm1.exposeLocal({ guestPort: 8000, hostPort: wanted, transport });
      assert.equal(port, wanted);
      assert.deepEqual(await get(port, "/who"), { status: 200, body: "vm1" });
      assert.deepEqual(await vm1.listForwards(), [{ hostPort: port, guestPort: 8000, transport }]);
      await vm1.unexposeLocal({ hostPort: port, guestPort: 8000 });
      assert.equal((await get(port)).error, "ECONNREFUSED");
      assert.deepEqual(await vm1.listForwards(), []);
      await vm1.unexposeLocal({ hostPort: port }); // idempotent
    });

    test("auto-assign, several forwards on one VM, two VMs asking for the same host port", async () => {
      const a = await vm1.exposeLocal({ guestPort: 8000, transport });
      const b = await vm1.exposeLocal({ guestPort: 8080, transport });
      assert.notEqual(a, b);
      assert.equal((await get(a, "/who")).body, "vm1");
      assert.equal((await get(b, "/who")).body, "vm1-8080");
      const c = await vm2.exposeLocal({ guestPort: 8000, hostPort: a, transport });
      assert.notEqual(c, a, "vm1's port is not taken over");
      assert.equal((await get(a, "/who")).body, "vm1");
      assert.equal((await get(c, "/who")).body, "vm2", "each VM serves its own content");
      for (const [vm, p] of [[vm1, a], [vm1, b], [vm2, c]] as const) await vm.unexposeLocal({ hostPort: p });
    });

    test("a port held by a host listener: another port is returned and the listener keeps its traffic", async () => {
      const hostServer: Server = createServer((s) => s.end("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nhost"));
      await new Promise<void>((r) => hostServer.listen(0, "127.0.0.1", () => r()));
      const held = (hostServer.address() as { port: number }).port;
      try {
        const got = await vm1.exposeLocal({ guestPort: 8000, hostPort: held, transport });
        assert.notEqual(got, held);
        assert.equal((await get(held)).body, "host");
        assert.equal((await get(got, "/who")).body, "vm1");
        await vm1.unexposeLocal({ hostPort: got });
      } finally {
        hostServer.close();
      }
    });

    // A tunnel of another process is a host listener (the test above); a kernel rule outlives its process.
    test("a forward made by another process holds its port, and this process can remove it", { skip: transport !== "nftables" && "nftables only" }, async () => {
      const out = execFileSync(process.execPath, ["--input-type=module", "-e", `
        import { SmolVM } from "${process.cwd()}/dist/index.js";
        const vm = await SmolVM.fromId("fwd1", { persistentForwards: true });
        process.stdout.write(String(await vm.exposeLocal({ guestPort: 8000, transport: "${transport}" })));
        vm.close();`], { env: process.env, encoding: "utf8" }).trim();
      const theirs = Number(out);
      assert.equal((await get(theirs, "/who")).body, "vm1", "the rule outlives the process that made it");
      const mine = await vm2.exposeLocal({ guestPort: 8000, hostPort: theirs, transport });
      assert.notEqual(mine, theirs);
      assert.equal((await get(mine, "/who")).body, "vm2");
      await vm1.unexposeLocal({ hostPort: theirs });
      assert.equal((await get(theirs)).error, "ECONNREFUSED");
      await vm2.unexposeLocal({ hostPort: mine });
    });

    test("a forwarded port does not answer on 127.0.0.2", async () => {
      const port = await vm1.exposeLocal({ guestPort: 8000, transport });
      const code = await new Promise<string>((resolve) => {
        const s = connect(port, "127.0.0.2");
        s.setTimeout(3000, () => (s.destroy(), resolve("timeout")));
        s.once("connect", () => (s.destroy(), resolve("connected")));
        s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      });
      assert.notEqual(code, "connected");
      await vm1.unexposeLocal({ hostPort: port });
    });

    test("forwards are removed by stop and by await-using disposal", async () => {
      const scratch = await SmolVM.create({ vmId: "fwd3", memSizeMib: 256 });
      await serve(scratch, 8000, "scratch");
      const p1 = await scratch.exposeLocal({ guestPort: 8000, transport });
      assert.equal((await get(p1, "/who")).body, "scratch");
      await scratch.stop();
      assert.equal((await get(p1)).error, "ECONNREFUSED", "stop removed it");
      assert.deepEqual(await scratch.listForwards(), []);
      await assert.rejects(scratch.exposeLocal({ guestPort: 8000, transport }), (e: unknown) => e instanceof VMStateError && /^Cannot expose port: VM is stopped/.test((e as Error).message));
      await scratch.delete();
      let p2 = 0;
      {
        await using scoped = await SmolVM.create({ vmId: "fwd4", memSizeMib: 256 });
        await serve(scoped, 8000, "scoped");
        p2 = await scoped.exposeLocal({ guestPort: 8000, transport });
        assert.equal((await get(p2, "/who")).body, "scoped");
      }
      assert.equal((await get(p2)).error, "ECONNREFUSED", "disposal removed it");
      await assertNothingLeft(["fwd3", "fwd4"]);
    });
  });
}

describe("exposeLocal: transports, errors, crashes, CLI", () => {
  test("validation errors name the argument, and a failed attempt leaves nothing", async () => {
    await assert.rejects(vm1.exposeLocal({ guestPort: 99999 }), (e: unknown) => e instanceof RangeError && /^guestPort must be 1-65535/.test(e.message));
    await assert.rejects(vm1.exposeLocal({ guestPort: 80, hostPort: 0 }), (e: unknown) => e instanceof RangeError && /^hostPort must be 1-65535/.test(e.message));
    await assert.rejects(vm1.exposeLocal({ guestPort: 80.5 }), RangeError);
    await assert.rejects(vm1.exposeLocal({ guestPort: 80, transport: "udp" as never }), RangeError);
    await assert.rejects(vm1.unexposeLocal({ hostPort: -1 }), RangeError);
    assert.deepEqual(await vm1.listForwards(), []);
  });

  test("auto picks nftables when privileged, else the SSH tunnel, and the log line says which", () => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", `
      import { SmolVM } from "${process.cwd()}/dist/index.js";
      const vm = await SmolVM.fromId("fwd1");
      const p = await vm.exposeLocal({ guestPort: 8000 });
      process.stdout.write(JSON.stringify(await vm.listForwards()));
      await vm.unexposeLocal({ hostPort: p });
      vm.close();`], { env: { ...process.env, SMOLVM_LOG: "info" }, encoding: "utf8" });
    const expected = PRIVILEGED ? "nftables" : "ssh_tunnel";
    assert.equal(JSON.parse(r.stdout)[0].transport, expected);
    assert.match(r.stderr, new RegExp(`transport=${expected}`));
  });

  test("the reference doc's API and service-discovery examples: env var read by a guest server, three servers without redirection", async () => {
    await vm2.setEnvVars({ VM_ID: vm2.vmId });
    // The doc's Flask API, with the standard library (no pip offline): /api/status reports VM_ID.
    await vm2.run(`cat > /app.py <<'EOF'
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "vm_id": os.getenv("VM_ID", "unknown")}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
HTTPServer(("0.0.0.0", 5000), H).serve_forever()
EOF`);
    await vm2.run("python3 /app.py > /tmp/api.log 2>&1 &");
    // Dynamic service discovery: output not redirected, as in the doc; the servers must survive their log lines.
    for (const port of [9090, 8081]) await vm2.run(`python3 -m http.server ${port} &`);
    const ports: Record<string, number> = {};
    for (const [name, guestPort] of [["api", 5000], ["metrics", 9090], ["health", 8081]] as const) {
      ports[name] = await vm2.exposeLocal({ guestPort });
    }
    const until = async (port: number, path: string) => {
      for (let i = 0; i < 100; i++) {
        const r = await get(port, path);
        if (r.status === 200) return r.body!;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`nothing answered on ${port}`);
    };
    assert.deepEqual(JSON.parse(await until(ports.api!, "/api/status")), { status: "ok", vm_id: "fwd2" });
    for (const name of ["metrics", "health"]) {
      for (let i = 0; i < 3; i++) assert.match(await until(ports[name]!, "/"), /Directory listing/, `${name} keeps serving after logging requests`);
    }
    for (const p of Object.values(ports)) await vm2.unexposeLocal({ hostPort: p });
    await vm2.run("pkill -f /app.py; pkill -f 'http.server 9090'; pkill -f 'http.server 8081'");
  });

  test("a user-networking VM: nftables is refused with the reason, auto falls back to the tunnel", async () => {
    await using vm = await SmolVM.create({ vmId: "fwduser", memSizeMib: 256, network: "user" });
    await serve(vm, 8000, "user");
    await assert.rejects(vm.exposeLocal({ guestPort: 8000, transport: "nftables" }), (e: unknown) =>
      e instanceof PortForwardError && /every transport failed \(nftables: needs namespace networking/.test((e as Error).message));
    const p = await vm.exposeLocal({ guestPort: 8000 });
    assert.deepEqual((await vm.listForwards()).map((f) => f.transport), ["ssh_tunnel"]);
    assert.equal((await get(p, "/who")).body, "user");
  });

  test("SIGKILL of the owning process: its tunnel dies with it and cleanup removes the rest", async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", `
      import { SmolVM } from "${process.cwd()}/dist/index.js";
      const vm = await SmolVM.fromId("fwd2");
      const ports = [];
      for (const t of ${JSON.stringify(TRANSPORTS)}) ports.push(await vm.exposeLocal({ guestPort: 8000, transport: t }));
      process.stdout.write(JSON.stringify(ports) + "\\n");
      setInterval(() => {}, 1000);`], { env: process.env, stdio: ["ignore", "pipe", "inherit"] });
    const ports = await new Promise<number[]>((resolve) => child.stdout.once("data", (d) => resolve(JSON.parse(String(d)))));
    for (const p of ports) assert.equal((await get(p, "/who")).body, "vm2");
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    assert.equal((await vm2.listForwards()).length, ports.length, "recorded until the sweep runs");
    const report = await SmolVM.cleanup();
    assert.equal(report.removedForwards.length, ports.length);
    assert.deepEqual(await vm2.listForwards(), []);
    for (const p of ports) assert.equal((await get(p)).error, "ECONNREFUSED", `port ${p} is gone`);
  });

  test("CLI: expose prints the port, the forward outlives the CLI, ports lists it, unexpose removes it", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/cli/main.js", ...args], { env: process.env, encoding: "utf8" });
    for (const transport of TRANSPORTS) {
      const e = cli("expose", "fwd1", "8000", "--transport", transport, "--json");
      assert.equal(e.status, 0, e.stderr);
      const fwd = JSON.parse(e.stdout);
      assert.equal(fwd.transport, transport);
      const body = spawnSync("curl", ["-s", `http://127.0.0.1:${fwd.hostPort}/who`], { encoding: "utf8" }).stdout;
      assert.equal(body, "vm1", `${transport} forward works after the CLI exited`);
      assert.deepEqual(JSON.parse(cli("ports", "fwd1", "--json").stdout), [{ hostPort: fwd.hostPort, guestPort: 8000, transport }]);
      assert.equal(cli("cleanup").status, 0);
      assert.equal(JSON.parse(cli("ports", "fwd1", "--json").stdout).length, 1, "cleanup leaves CLI forwards alone");
      assert.equal(cli("unexpose", "fwd1", String(fwd.hostPort)).status, 0);
      assert.deepEqual(JSON.parse(cli("ports", "fwd1", "--json").stdout), []);
      assert.notEqual(spawnSync("curl", ["-s", "-m", "3", `http://127.0.0.1:${fwd.hostPort}/who`]).status, 0);
    }
    const bad = cli("expose", "fwd1", "99999");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /guestPort must be 1-65535/);
  });
});

describe("a CLI tunnel whose VM dies", () => {
  test("the detached tunnel process notices and exits; cleanup and delete leave nothing", async () => {
    const vm = await SmolVM.create({ vmId: "fwd5", memSizeMib: 256 });
    await serve(vm, 8000, "fwd5");
    const e = spawnSync(process.execPath, ["dist/cli/main.js", "expose", "fwd5", "8000", "--transport", "ssh_tunnel"], { env: process.env, encoding: "utf8" });
    const port = Number(e.stdout.trim());
    assert.equal((await get(port, "/who")).body, "fwd5");
    const tunnelPids = () => spawnSync("pgrep", ["-f", "tunnel-process.js fwd5 "], { encoding: "utf8" }).stdout.trim();
    assert.notEqual(tunnelPids(), "");
    process.kill(vm.info()!.pid!, "SIGKILL");
    for (let i = 0; i < 100 && tunnelPids(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(tunnelPids(), "", "the tunnel process is gone");
    assert.equal((await get(port)).error, "ECONNREFUSED");
    await SmolVM.cleanup();
    assert.deepEqual(await vm.listForwards(), []);
    await vm.delete();
    await assertNothingLeft(["fwd5"]);
  });
});

describe("localhost only, seen from a network namespace this test creates", { skip: !PRIVILEGED && "needs root" }, () => {
  test("the host's address on the namespace's link does not answer on forwarded ports", async () => {
    const ns = "smolvm-test-lo";
    const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
    sh(`ip netns del ${ns} 2>/dev/null; ip link del smvtesth 2>/dev/null`);
    const setup = sh(`ip netns add ${ns} && ip link add smvtesth type veth peer name smvtestn netns ${ns} &&
      ip addr add 10.234.0.1/30 dev smvtesth && ip link set smvtesth up &&
      ip -n ${ns} addr add 10.234.0.2/30 dev smvtestn && ip -n ${ns} link set smvtestn up && ip -n ${ns} link set lo up`);
    assert.equal(setup.status, 0, setup.stderr);
    const control: Server = createServer((s) => s.end("ok"));
    await new Promise<void>((r) => control.listen(0, "10.234.0.1", () => r()));
    try {
      const reach = (port: number) => sh(`ip netns exec ${ns} timeout 3 bash -c 'exec 3<>/dev/tcp/10.234.0.1/${port}'`).status === 0;
      assert.equal(reach((control.address() as { port: number }).port), true, "control: the namespace reaches the host's link address");
      for (const transport of TRANSPORTS) {
        const port = await vm1.exposeLocal({ guestPort: 8000, transport });
        assert.equal((await get(port, "/who")).body, "vm1");
        assert.equal(reach(port), false, `${transport} forward is not reachable from the namespace`);
        await vm1.unexposeLocal({ hostPort: port });
      }
    } finally {
      control.close();
      sh(`ip netns del ${ns}; ip link del smvtesth 2>/dev/null`);
    }
  });
});

describe("isolation of namespace-networked guests", { skip: !PRIVILEGED && "needs root" }, () => {
  test("a guest reaches neither the host's services nor another VM", async () => {
    const host: Server = createServer((s) => s.end("host-service"));
    await new Promise<void>((r) => host.listen(0, "0.0.0.0", () => r()));
    const hostPortOpen = (host.address() as { port: number }).port;
    try {
      const ep2 = vm2.sshEndpoint();
      // vm1's gateway side of its own veth (the host) and vm2's namespace address, both made by smolvm.
      const hostIp = ep2.host.replace(/\.(\d+)$/, (_, d) => `.${Number(d) - 1}`);
      const reach = async (ip: string, port: number) =>
        (await vm1.run(`python3 -c "import socket; socket.create_connection(('${ip}', ${port}), timeout=3)"`)).ok;
      const vm1Host = vm1.sshEndpoint().host.replace(/\.(\d+)$/, (_, d) => `.${Number(d) - 1}`);
      assert.equal(await reach(vm1Host, hostPortOpen), false, "host service on the host's veth address");
      assert.equal(await reach(hostIp, hostPortOpen), false, "host service via another VM's link address");
      assert.equal(await reach(ep2.host, 22), false, "another VM's SSH through its namespace");
      assert.equal(await reach("127.0.0.1", 22), true, "control: the guest's own loopback works");
    } finally {
      host.close();
    }
  });
});

describe("egress through NAT (internet: true)", { skip: !PRIVILEGED && "needs root" }, () => {
  test("an internet VM reaches a server in a namespace this test creates; a default VM does not; ip_forward is restored", async () => {
    const ns = "smolvm-test-net";
    const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
    const forwardBefore = sh("cat /proc/sys/net/ipv4/ip_forward").stdout.trim();
    sh(`ip netns del ${ns} 2>/dev/null; ip link del smolneth 2>/dev/null`);
    const setup = sh(`ip netns add ${ns} && ip link add smolneth type veth peer name smolnetn netns ${ns} &&
      ip addr add 10.235.0.1/30 dev smolneth && ip link set smolneth up &&
      ip -n ${ns} addr add 10.235.0.2/30 dev smolnetn && ip -n ${ns} link set smolnetn up && ip -n ${ns} link set lo up`);
    assert.equal(setup.status, 0, setup.stderr);
    const server = spawn("ip", ["netns", "exec", ns, "python3", "-m", "http.server", "18080", "--bind", "10.235.0.2"], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100 && sh(`ip netns exec ${ns} sh -c 'exec 3<>/dev/tcp/10.235.0.2/18080' 2>/dev/null`).status !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      const fetchFrom = async (vm: SmolVM) =>
        (await vm.run(`python3 -c "import urllib.request as u; print(u.urlopen('http://10.235.0.2:18080/', timeout=5).status)"`)).stdout.trim();
      {
        await using out = await SmolVM.create({ vmId: "fwdnet", memSizeMib: 256, internet: true });
        assert.equal(sh("cat /proc/sys/net/ipv4/ip_forward").stdout.trim(), "1");
        assert.equal(await fetchFrom(out), "200", "the internet VM gets out through NAT");
        assert.equal(await fetchFrom(vm1), "", "a VM without internet does not");
      }
      assert.equal(sh("cat /proc/sys/net/ipv4/ip_forward").stdout.trim(), forwardBefore, "ip_forward is as it was");
      await assertNothingLeft(["fwdnet"]);
    } finally {
      server.kill();
      sh(`ip netns del ${ns}; ip link del smolneth 2>/dev/null`);
    }
  });
});
