/** exposeLocal over the SSH-tunnel transport: real guests, real HTTP from the host, on 127.0.0.1 only. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect, type Server } from "node:net";
import { assertNothingLeft, removeTestHome } from "../helpers/env.js";
import { SmolVM, VMStateError, PortForwardError } from "../../dist/index.js";

/** GET / on 127.0.0.1:port; resolves with the body, or the connection error code. */
function get(port: number, path = "/"): Promise<{ status?: number; body?: string; error?: string }> {
  return fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(15_000) }).then(
    async (r) => ({ status: r.status, body: await r.text() }),
    (e: Error & { cause?: { code?: string } }) => ({ error: e.cause?.code ?? e.message }),
  );
}

/** Starts an HTTP server in the guest that serves a file named after the VM, and waits until it answers. */
async function serve(vm: SmolVM, port: number, text: string): Promise<void> {
  await vm.run(`mkdir -p /srv/${port} && printf '%s' '${text}' > /srv/${port}/who && cd /srv/${port} && python3 -m http.server ${port} > /dev/null 2>&1 &`);
  const probe = `python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:${port}/who')"`;
  for (let i = 0; i < 60; i++) if ((await vm.run(probe)).ok) return;
  throw new Error(`guest server on ${port} never answered`);
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
  await assertNothingLeft(["fwd1", "fwd2"]);
  removeTestHome();
});

describe("exposeLocal (ssh_tunnel)", () => {
  test("quick start: a specific host port serves the guest's http.server, and is listed", async () => {
    const free = await new Promise<number>((r) => { const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
    const port = await vm1.exposeLocal({ guestPort: 8000, hostPort: free });
    assert.equal(port, free);
    assert.deepEqual(await get(port, "/who"), { status: 200, body: "vm1" });
    assert.deepEqual(await vm1.listForwards(), [{ hostPort: port, guestPort: 8000, transport: "ssh_tunnel" }]);
    await vm1.unexposeLocal({ hostPort: port, guestPort: 8000 });
    assert.equal((await get(port)).error, "ECONNREFUSED", "refused after unexposeLocal");
    assert.deepEqual(await vm1.listForwards(), []);
    await vm1.unexposeLocal({ hostPort: port }); // idempotent
  });

  test("auto-assign, several forwards on one VM, and two VMs asking for the same port", async () => {
    const a = await vm1.exposeLocal({ guestPort: 8000 });
    const b = await vm1.exposeLocal({ guestPort: 8080 });
    assert.notEqual(a, b);
    assert.equal((await get(a, "/who")).body, "vm1");
    assert.equal((await get(b, "/who")).body, "vm1-8080");
    const c = await vm2.exposeLocal({ guestPort: 8000, hostPort: a });
    assert.notEqual(c, a, "the busy port is not taken from vm1");
    assert.equal((await get(a, "/who")).body, "vm1");
    assert.equal((await get(c, "/who")).body, "vm2", "each VM serves its own content");
    for (const [vm, p] of [[vm1, a], [vm1, b], [vm2, c]] as const) await vm.unexposeLocal({ hostPort: p });
  });

  test("a port held by a host listener: another port is returned and the listener keeps its traffic", async () => {
    const hostServer: Server = createServer((s) => s.end("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nhost"));
    await new Promise<void>((r) => hostServer.listen(0, "127.0.0.1", () => r()));
    const held = (hostServer.address() as { port: number }).port;
    try {
      const got = await vm1.exposeLocal({ guestPort: 8000, hostPort: held });
      assert.notEqual(got, held);
      assert.equal((await get(held)).body, "host");
      assert.equal((await get(got, "/who")).body, "vm1");
      await vm1.unexposeLocal({ hostPort: got });
    } finally {
      hostServer.close();
    }
  });

  test("forwards bind to 127.0.0.1 only", async () => {
    const port = await vm1.exposeLocal({ guestPort: 8000 });
    const err = await new Promise<string>((resolve) => {
      const s = connect(port, "127.0.0.2");
      s.once("connect", () => (s.destroy(), resolve("connected")));
      s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    assert.equal(err, "ECONNREFUSED");
    await vm1.unexposeLocal({ hostPort: port });
  });

  test("validation errors name the argument; nftables is refused with the reason; a stopped VM is refused", async () => {
    await assert.rejects(vm1.exposeLocal({ guestPort: 99999 }), (e: unknown) => e instanceof RangeError && /^guestPort must be 1-65535/.test(e.message));
    await assert.rejects(vm1.exposeLocal({ guestPort: 80, hostPort: 0 }), (e: unknown) => e instanceof RangeError && /^hostPort must be 1-65535/.test(e.message));
    await assert.rejects(vm1.exposeLocal({ guestPort: 80.5 }), RangeError);
    await assert.rejects(vm1.exposeLocal({ guestPort: 80, transport: "udp" as never }), RangeError);
    await assert.rejects(vm1.exposeLocal({ guestPort: 8000, transport: "nftables" }), (e: unknown) => e instanceof PortForwardError && /nftables: /.test((e as Error).message));
    assert.deepEqual(await vm1.listForwards(), [], "a failed attempt leaves nothing");
    const scratch = await SmolVM.create({ vmId: "fwd3", memSizeMib: 256 });
    await scratch.stop();
    await assert.rejects(scratch.exposeLocal({ guestPort: 8000 }), (e: unknown) => e instanceof VMStateError && /^Cannot expose port: VM is stopped/.test((e as Error).message));
    await scratch.delete();
  });

  test("forwards are removed by stop, delete and await-using disposal", async () => {
    const p1 = await vm2.exposeLocal({ guestPort: 8000 });
    await vm2.stop();
    assert.equal((await get(p1)).error, "ECONNREFUSED", "stop removed it");
    assert.deepEqual(await vm2.listForwards(), []);
    let p2 = 0;
    {
      await using scoped = await SmolVM.create({ vmId: "fwd4", memSizeMib: 256 });
      await serve(scoped, 8000, "scoped");
      p2 = await scoped.exposeLocal({ guestPort: 8000 });
      assert.equal((await get(p2, "/who")).body, "scoped");
    }
    assert.equal((await get(p2)).error, "ECONNREFUSED", "disposal removed it");
    await assertNothingLeft(["fwd4"]);
  });
});
