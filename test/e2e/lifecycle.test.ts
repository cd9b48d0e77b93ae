/** Lifecycle end to end: real QEMU guests, real SSH, real state store. */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import { assertNothingLeft, qemuProcesses, removeTestHome, TEST_HOME } from "../helpers/env.js";
import { SmolVM, SmolVMError, VMNotFoundError, VMStateError, VMAlreadyExistsError, isSmolVMError } from "../../dist/index.js";
import { findImage } from "../../dist/build.js";

after(async () => {
  await assertNothingLeft(["life", "scoped", "dup", "race", "shared", "victim", "byo", "nokernel", "tooshort"], { anyQemu: true });
  removeTestHome();
});

describe("lifecycle", () => {
  test("new → start → run → stop → start → delete, with the right status and errors at each step", async () => {
    const vm = new SmolVM({ vmId: "life", memSizeMib: 256 });
    assert.equal(vm.status, "created");
    assert.deepEqual(await SmolVM.list(), [], "nothing runs or is recorded before start()");
    await vm.start();
    assert.equal(vm.status, "running");
    const r = await vm.run("uname -s; cat /etc/hostname");
    assert.deepEqual(r.stdout.split("\n").slice(0, 2), ["Linux", "life"]);
    assert.equal(r.ok, true);

    await vm.stop();
    assert.equal(vm.status, "stopped");
    await vm.stop(); // idempotent
    await assert.rejects(vm.run("true"), (e: unknown) => e instanceof VMStateError && /^Cannot run command: VM is stopped/.test(e.message));

    await vm.start(); // boots again on the same disk
    assert.equal((await vm.run("echo again")).stdout, "again\n");

    await vm.delete();
    await vm.delete(); // idempotent
    await assert.rejects(SmolVM.fromId("life"), VMNotFoundError);
    await assert.rejects(vm.run("true"), (e: unknown) => isSmolVMError(e) && /deleted/.test((e as Error).message));
    await assertNothingLeft(["life"]);
  });

  test("await using: disposal of a created VM stops and deletes it", async () => {
    {
      await using vm = await SmolVM.create({ vmId: "scoped", memSizeMib: 256 });
      assert.equal((await vm.run("echo in-scope")).stdout, "in-scope\n");
      assert.equal(qemuProcesses().length, 1);
    }
    await assertNothingLeft(["scoped"]);
  });

  test("a duplicate vmId is refused and the first VM is untouched", async () => {
    await using vm = await SmolVM.create({ vmId: "dup", memSizeMib: 256 });
    await assert.rejects(SmolVM.create({ vmId: "dup" }), (e: unknown) => e instanceof VMAlreadyExistsError && /dup already exists/.test((e as Error).message));
    assert.equal((await vm.run("true")).exitCode, 0);
    assert.equal(qemuProcesses().length, 1, "the refused create started nothing");
  });

  test("concurrent creates of one vmId from two processes: exactly one wins", async () => {
    const script = `import { SmolVM } from "${process.cwd()}/dist/index.js";
      try { const vm = await SmolVM.create({ vmId: "race", memSizeMib: 256 }); vm.close(); console.log("created"); }
      catch (e) { console.log(e.name); }`;
    const runChild = () =>
      new Promise<string>((resolve) => {
        const c = spawn(process.execPath, ["--input-type=module", "-e", script], { env: process.env, stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        c.stdout.on("data", (d) => (out += d));
        c.on("close", () => resolve(out.trim()));
      });
    const results = (await Promise.all([runChild(), runChild()])).sort();
    assert.deepEqual(results, ["VMAlreadyExistsError", "created"]);
    const vm = await SmolVM.fromId("race");
    assert.equal(vm.status, "running", "the VM created by a process that exited keeps running");
    await vm.delete();
    await assertNothingLeft(["race"]);
  });

  test("a second process finds the VM by id, reconnects and runs commands", async () => {
    await using vm = await SmolVM.create({ vmId: "shared", memSizeMib: 256 });
    await vm.run("echo from-first > /root/mark");
    const out = execFileSync(process.execPath, ["--input-type=module", "-e",
      `import { SmolVM } from "${process.cwd()}/dist/index.js";
       const vm = await SmolVM.fromId("shared");
       const r = await vm.run("cat /root/mark; echo $SMOLVM_CMD_ID | wc -c");
       process.stdout.write(JSON.stringify({ status: vm.status, out: r.stdout }));
       vm.close();`], { env: process.env, encoding: "utf8" });
    const got = JSON.parse(out);
    assert.equal(got.status, "running");
    assert.equal(got.out.split("\n")[0], "from-first");
    assert.equal((await vm.run("true")).ok, true, "the first handle still works");
  });

  test("list and status tell the truth after QEMU is killed from outside", async () => {
    const vm = await SmolVM.create({ vmId: "victim", memSizeMib: 256 });
    const pid = vm.info()!.pid!;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100 && qemuProcesses().length; i++) await new Promise((r) => setTimeout(r, 20));
    const listed = (await SmolVM.list()).find((v) => v.vmId === "victim");
    assert.equal(listed?.status, "error");
    assert.match(listed?.error ?? "", /exited unexpectedly/);
    assert.equal(vm.status, "error");
    await assert.rejects(vm.run("true"), (e: unknown) => e instanceof VMStateError && /VM is error/.test((e as Error).message));
    await vm.delete();
    await assertNothingLeft(["victim"]);
  });

  test("a custom kernel, initramfs and rootfs boot, and the base rootfs is never modified", async () => {
    const img = (await findImage(process.env.SMOLVM_IMAGE_DIR!))!;
    assert.ok(img, "the default image is built");
    const before = statSync(img.rootfsPath).mtimeMs;
    {
      await using vm = await SmolVM.create({
        vmId: "byo", memSizeMib: 256, kernelPath: img.kernelPath, initrdPath: img.initrdPath, rootfsPath: img.rootfsPath,
        bootArgs: "smol.custom=yes",
      });
      const r = await vm.run("grep -o smol.custom=yes /proc/cmdline; echo scribble > /etc/written-by-test; sync");
      assert.equal(r.stdout, "smol.custom=yes\n");
    }
    assert.equal(statSync(img.rootfsPath).mtimeMs, before, "base image untouched");
    await assertNothingLeft(["byo"]);
  });

  test("a boot failure cleans up after itself and says what to do", async () => {
    await assert.rejects(
      SmolVM.create({ vmId: "nokernel", kernelPath: `${TEST_HOME}/missing-vmlinux`, rootfsPath: `${TEST_HOME}/missing.ext4` }),
      (e: unknown) => e instanceof SmolVMError && /does not exist/.test((e as Error).message),
    );
    await assert.rejects(
      SmolVM.create({ vmId: "tooshort", memSizeMib: 256, bootTimeoutMs: 1000 }),
      (e: unknown) => e instanceof SmolVMError && /did not become ready in time/.test((e as Error).message),
    );
    await assertNothingLeft(["nokernel", "tooshort"]);
  });
});
